"""Authentication: dashboard logins (lockout, no user enumeration), passwords, and every credential to a Principal.

Credentials and what they become:

    dashboard JWT        Principal(kind="user", role, user_id, tenant_id)
    API key (wag_…)      Principal(kind="api_key", role, api_key_id, user_id, tenant_id)   bounded by its owner user
    internal key         Principal(kind="internal", service)                     service None: a global key
    session token        Principal(kind="session", session_id, tenant_id)
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import InternalKey, Settings
from wagate.db.enums import ActorType, TenantStatus
from wagate.db.models_identity import ApiKey, RefreshToken, Tenant, User
from wagate.db.models_whatsapp import WaSession
from wagate.db.types import utcnow
from wagate.errors import Invalid, RateLimited, Unauthorized
from wagate.logging import security_log
from wagate.services.identity import key_cache, subscription, tokens
from wagate.services.identity.credentials import hash_password_async, hash_token, same, verify_password_async
from wagate.services.identity.principal import Principal, lower_role
from wagate.services.operations import audit

MIN_PASSWORD = 10
BAD_LOGIN = "Invalid username or password"
# A bcrypt hash (cost 12, same as real ones) of a random password nobody knows: an unknown username is checked
# against it, so it costs the same time as a wrong password and the answer cannot tell the two apart.
_DUMMY_HASH = "$2b$12$E2CSNZEutAyd3euoOcISEekq5xQJkv6axQkR4pDOyAgfMeG2dnqgW"


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    tokens: tokens.IssuedTokens


def _locked_message(until: datetime) -> tuple[str, int]:
    seconds = max(1, int((until - utcnow()).total_seconds()))
    minutes = max(1, round(seconds / 60))
    return f"Account locked after too many failed logins; try again in {minutes} minute(s)", seconds


async def login(sessions: async_sessionmaker[AsyncSession], settings: Settings, username: str, password: str, *,
                ip: str | None, user_agent: str | None) -> LoginResult:
    """Check a username and password; lock the account after LOGIN_MAX_FAILURES wrong passwords in a row."""
    name = username.strip().lower()
    async with sessions() as db:
        user = await db.scalar(select(User).where(User.username == name))
        now = utcnow()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            await verify_password_async(password, _DUMMY_HASH)  # the same work as any other answer
            message, seconds = _locked_message(user.locked_until)
            security_log().warning("login refused: account locked", user_id=user.id, ip=ip)
            raise RateLimited(message, retry_after=seconds)
        ok = await verify_password_async(password, user.password_hash if user else _DUMMY_HASH)
        if user is None or not ok or not user.is_active:
            reason = "unknown user" if user is None else ("wrong password" if not ok else "inactive user")
            # What was typed as a username may be a password typed in the wrong field: only its keyed digest is
            # logged, which tells repeated attempts on one name apart and gives nothing away.
            security_log().warning("login failed", username_digest=username_digest(settings, name),
                                   user_id=user.id if user is not None else None, ip=ip, reason=reason)
            if user is not None and not ok:
                await _count_failure(db, settings, user, ip)
            raise Unauthorized(BAD_LOGIN)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        issued = tokens.issue(db, settings, user, ip=ip, user_agent=user_agent)
        audit.record(db, actor_type=ActorType.USER, actor_id=user.id, action="auth.login", target_type="user",
                     target_id=user.id, tenant_id=user.tenant_id, ip=ip)
        await db.commit()
        return LoginResult(user, issued)


def username_digest(settings: Settings, username: str) -> str:
    """A short HMAC of an attempted username, keyed by the install's JWT secret (a plain hash of a short password
    would be guessed from a word list)."""
    key = hashlib.sha256(b"wagate login username|" + settings.jwt_secret.encode()).digest()
    return hmac.new(key, username.encode(), hashlib.sha256).hexdigest()[:16]


async def _count_failure(db: AsyncSession, settings: Settings, user: User, ip: str | None) -> None:
    # Increment in SQL, not in Python: concurrent wrong guesses on two web processes must all count.
    await db.execute(update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1))
    failures = await db.scalar(select(User.failed_logins).where(User.id == user.id)) or 0
    if failures >= settings.login_max_failures:
        until = utcnow() + timedelta(seconds=settings.login_lock_seconds)
        # The count restarts, so after the lock the account again gets the full number of tries.
        await db.execute(update(User).where(User.id == user.id).values(failed_logins=0, locked_until=until))
        security_log().warning("account locked", username=user.username, ip=ip, failures=failures,
                               lock_seconds=settings.login_lock_seconds)
    await db.commit()


async def logout(sessions: async_sessionmaker[AsyncSession], refresh_token: str | None,
                 family_id: str | None) -> int:
    """Revoke the family of the given refresh token (or of the access token's family); the count revoked."""
    async with sessions() as db:
        if refresh_token:
            row = await tokens.find(db, refresh_token)
            family_id = row.family_id if row else family_id
        revoked = await tokens.revoke_family(db, family_id) if family_id else 0
        await db.commit()
        return revoked


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise Invalid("Invalid request", {"new_password": [f"must be at least {MIN_PASSWORD} characters"]})


async def change_password(sessions: async_sessionmaker[AsyncSession], principal: Principal, old: str, new: str, *,
                          keep_family: str | None, ip: str | None) -> int:
    """Set a new password after checking the old one; every other refresh family is revoked. Returns that count."""
    check_password_rules(new)
    async with sessions() as db:
        user = await db.get(User, principal.user_id)
        if user is None or not await verify_password_async(old, user.password_hash):
            security_log().warning("password change refused: wrong current password", user_id=principal.user_id,
                                   ip=ip)
            raise Unauthorized("Current password is wrong")
        user.password_hash = await hash_password_async(new)
        revoked = await tokens.revoke_user_families(db, user.id, keep_family=keep_family)
        audit.record(db, actor_type=ActorType.USER, actor_id=user.id, action="user.password_change",
                     target_type="user", target_id=user.id, tenant_id=user.tenant_id, ip=ip,
                     details={"refresh_tokens_revoked": revoked})
        await db.commit()
        return revoked


async def user_principal(sessions: async_sessionmaker[AsyncSession], settings: Settings,
                         token: str) -> tuple[Principal, tokens.AccessClaims]:
    """A dashboard JWT to its user. The role comes from the database, so a demotion counts at once.

    A token issued with a refresh family dies with it, in the same query: after a logout, or the reuse of a
    rotated refresh token, its access tokens stop working at once, not when they expire.
    """
    claims = tokens.decode_access(settings, token)
    family_alive = (
        exists().where(RefreshToken.family_id == claims.family_id, RefreshToken.revoked_at.is_(None))
        if claims.family_id else true()
    )
    async with sessions() as db:
        row = (await db.execute(
            select(User.username, User.role, User.tenant_id, User.is_active, family_alive.label("family_alive"))
            .where(User.id == claims.user_id)
        )).one_or_none()
    if row is None or not row.is_active:
        raise Unauthorized("Account disabled")
    if not row.family_alive:
        raise Unauthorized("Session ended: log in again")
    return Principal("user", role=row.role, user_id=claims.user_id, tenant_id=row.tenant_id,
                     name=row.username), claims


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """A credential's principal plus its tenant's subscription (an API key for /v1/*, a session token for /wa/*)."""

    principal: Principal
    tenant_status: TenantStatus | None
    tenant_expires_at: datetime | None

    @property
    def subscription_expired(self) -> bool:
        return subscription.is_expired(self.tenant_status, self.tenant_expires_at)


async def api_key_principal(sessions: async_sessionmaker[AsyncSession], key: str) -> KeyOwner:
    """The key's principal, bounded by its owner as the owner is now: a disabled owner disables the key, its role
    is at most the owner's, and a key with no tenant of its own is bound to its owner's. Lookups are cached
    (see `wagate.services.identity.key_cache`); every change to a key, its owner or its tenant empties the caches."""
    key_hash = hash_token(key)
    row = key_cache.get(key_hash)
    if row is None:
        looked_up_at = key_cache.generation()
        async with sessions() as db:
            row = (await db.execute(
                select(ApiKey.id, ApiKey.prefix, ApiKey.role, ApiKey.tenant_id, ApiKey.user_id, ApiKey.revoked_at,
                       ApiKey.expires_at, User.role.label("owner_role"), User.is_active.label("owner_active"),
                       User.tenant_id.label("owner_tenant_id"), Tenant.status,
                       Tenant.expires_at.label("tenant_expires_at"))
                .outerjoin(User, User.id == ApiKey.user_id)
                .outerjoin(Tenant, Tenant.id == func.coalesce(ApiKey.tenant_id, User.tenant_id))
                .where(ApiKey.key_hash == key_hash)
            )).one_or_none()
        if row is not None:
            key_cache.put(key_hash, row, looked_up_at)
    if row is None:
        raise Unauthorized("Invalid API key")
    if row.revoked_at is not None:
        raise Unauthorized("API key revoked")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthorized("API key expired")
    role, tenant_id = row.role, row.tenant_id
    if row.user_id is not None:
        if not row.owner_active:
            raise Unauthorized("API key disabled: its owner's account is disabled")
        if row.owner_tenant_id is not None and tenant_id not in (None, row.owner_tenant_id):
            raise Unauthorized("API key disabled: its owner no longer belongs to the key's tenant")
        role = lower_role(role, row.owner_role)
        tenant_id = row.owner_tenant_id if tenant_id is None else tenant_id
    principal = Principal("api_key", role=role, api_key_id=row.id, user_id=row.user_id, tenant_id=tenant_id,
                          name=row.prefix)
    return KeyOwner(principal, row.status, row.tenant_expires_at)


def check_subscription(owner: KeyOwner) -> None:
    if owner.subscription_expired:
        raise subscription.expired(owner.tenant_expires_at)


def internal_principal(configured: tuple[InternalKey, ...], given: str) -> Principal:
    """Compare against every configured key in constant time, without stopping at the first match."""
    match: InternalKey | None = None
    for entry in configured:
        if same(entry.key, given) and match is None:
            match = entry
    if match is None:
        raise Unauthorized("Invalid internal API key")
    return Principal("internal", service=match.service, name=match.service or "global")


async def session_principal(sessions: async_sessionmaker[AsyncSession], token: str) -> KeyOwner:
    """A session token's principal plus its tenant's subscription (for /wa/*)."""
    async with sessions() as db:
        row = (await db.execute(
            select(WaSession.id, WaSession.tenant_id, Tenant.status, Tenant.expires_at)
            .outerjoin(Tenant, Tenant.id == WaSession.tenant_id)
            .where(WaSession.token_hash == hash_token(token))
        )).one_or_none()
    if row is None:
        raise Unauthorized("Invalid session token")
    return KeyOwner(Principal("session", session_id=row.id, tenant_id=row.tenant_id, name=row.id), row.status,
                    row.expires_at)
