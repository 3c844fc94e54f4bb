"""Dashboard tokens: short-lived JWT access tokens (HS256) and opaque, rotating, hashed refresh tokens.

A refresh token is used once: `rotate` marks it rotated and issues its successor in the same family. Presenting
an already-rotated token means a copy exists somewhere else (stolen cookie, replayed request), so the whole
family is revoked and both holders must log in again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_identity import RefreshToken, User
from wagate.db.types import utcnow
from wagate.errors import Unauthorized
from wagate.logging import security_log
from wagate.services.identity.credentials import hash_token, new_token

ALGORITHM = "HS256"
LEEWAY_S = 5  # clock skew tolerated between web processes behind one balancer
REQUIRED_CLAIMS = ["sub", "role", "jti", "iat", "exp"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    role: Role
    jti: str
    family_id: str | None  # the refresh family the token was issued with, so a password change can keep it


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    family_id: str


def encode_access(settings: Settings, user: User, family_id: str | None) -> str:
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": str(user.id), "role": user.role.value, "jti": uuid.uuid4().hex, "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl),
    }
    if family_id:
        claims["fid"] = family_id
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def decode_access(settings: Settings, token: str) -> AccessClaims:
    """Verify signature, expiry and the required claims; `algorithms` pinned, so `alg: none` never passes."""
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM], leeway=LEEWAY_S,
                            options={"require": REQUIRED_CLAIMS})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("Invalid token") from None
    try:
        return AccessClaims(int(claims["sub"]), Role(claims["role"]), str(claims["jti"]), claims.get("fid"))
    except (TypeError, ValueError):
        raise Unauthorized("Invalid token") from None


def _new_refresh(settings: Settings, user_id: int, family_id: str, ip: str | None,
                 user_agent: str | None) -> tuple[str, RefreshToken]:
    plaintext = new_token(32)
    row = RefreshToken(
        user_id=user_id, token_hash=hash_token(plaintext), family_id=family_id,
        expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl), ip=ip,
        user_agent=(user_agent or "")[:255] or None,
    )
    return plaintext, row


def issue(db: AsyncSession, settings: Settings, user: User, *, ip: str | None, user_agent: str | None,
          family_id: str | None = None) -> IssuedTokens:
    """A new access token and refresh token (a new family unless given); added to the caller's transaction."""
    family_id = family_id or uuid.uuid4().hex
    plaintext, row = _new_refresh(settings, user.id, family_id, ip, user_agent)
    db.add(row)
    return IssuedTokens(encode_access(settings, user, family_id), settings.access_token_ttl, plaintext, family_id)


async def revoke_family(db: AsyncSession, family_id: str) -> int:
    result = await db.execute(
        update(RefreshToken).where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def revoke_user_families(db: AsyncSession, user_id: int, *, keep_family: str | None = None) -> int:
    query = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if keep_family:
        query = query.where(RefreshToken.family_id != keep_family)
    result = await db.execute(query.values(revoked_at=utcnow()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def find(db: AsyncSession, plaintext: str) -> RefreshToken | None:
    return await db.scalar(select(RefreshToken).where(RefreshToken.token_hash == hash_token(plaintext)))


async def rotate(sessions: async_sessionmaker[AsyncSession], settings: Settings, plaintext: str, *,
                 ip: str | None, user_agent: str | None) -> tuple[User, IssuedTokens]:
    """Spend `plaintext` and issue its successor; reuse of a spent token revokes its family (and that sticks)."""
    async with sessions() as db:
        row = await find(db, plaintext)
        if row is None:
            raise Unauthorized("Invalid refresh token")
        if row.revoked_at is not None:
            raise Unauthorized("Refresh token revoked")
        now = utcnow()
        # The conditional UPDATE is the claim: of two requests racing with one token, exactly one gets rowcount 1.
        claimed = await db.execute(
            update(RefreshToken).where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=now)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            revoked = await revoke_family(db, row.family_id)
            await db.commit()  # the revocation must outlive the refusal
            security_log().warning("refresh token reuse; family revoked", user_id=row.user_id, ip=ip,
                                   family_id=row.family_id, tokens_revoked=revoked)
            raise Unauthorized("Refresh token reuse detected; please log in again")
        if row.expires_at <= now:
            raise Unauthorized("Refresh token expired")
        user = await db.get(User, row.user_id)
        if user is None or not user.is_active:
            await revoke_family(db, row.family_id)
            await db.commit()
            raise Unauthorized("Account disabled")
        issued = issue(db, settings, user, ip=ip, user_agent=user_agent, family_id=row.family_id)
        await db.commit()
        return user, issued
