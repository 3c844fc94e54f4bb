"""Dashboard users managed by admins: list, create, change (role, active flag, password reset), delete.

The gateway always keeps one active admin: the last one cannot be deleted, demoted or deactivated, or nobody
could manage users again without the command line.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import Role
from wagate.db.models_identity import Tenant, User
from wagate.errors import Conflict, Invalid, NotFound
from wagate.services import audit, tokens
from wagate.services.auth import check_password_rules
from wagate.services.credentials import hash_password_async
from wagate.services.principal import Principal

LAST_ADMIN = "The last active admin cannot be deleted, demoted or deactivated"


def _record(db: AsyncSession, actor: Principal, action: str, user: User, ip: str | None,
            details: dict[str, Any] | None = None) -> None:
    audit.record(db, actor_type=actor.actor_type, actor_id=actor.actor_id, action=action, target_type="user",
                 target_id=user.id, tenant_id=user.tenant_id, ip=ip, details=details)


async def list_users(sessions: async_sessionmaker[AsyncSession]) -> list[User]:
    async with sessions() as db:
        return list(await db.scalars(select(User).order_by(User.id)))


async def get_user(sessions: async_sessionmaker[AsyncSession], user_id: int) -> User:
    async with sessions() as db:
        user = await db.get(User, user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def _check_tenant(db: AsyncSession, tenant_id: int | None) -> None:
    if tenant_id is not None and await db.get(Tenant, tenant_id) is None:
        raise Invalid("Invalid request", {"tenant_id": ["no such tenant"]})


async def create_user(sessions: async_sessionmaker[AsyncSession], actor: Principal, data: dict[str, Any], *,
                      ip: str | None) -> User:
    check_password_rules(data["password"])
    username = data["username"].strip().lower()
    password_hash = await hash_password_async(data["password"])
    async with sessions() as db:
        await _check_tenant(db, data.get("tenant_id"))
        if await db.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict("Username already taken", {"username": username})
        user = User(username=username, email=data.get("email"), password_hash=password_hash,
                    role=Role(data.get("role", Role.USER)), tenant_id=data.get("tenant_id"),
                    is_active=data.get("is_active", True))
        db.add(user)
        try:
            await db.flush()
        except IntegrityError:  # a concurrent create of the same name
            raise Conflict("Username already taken", {"username": username}) from None
        _record(db, actor, "user.create", user, ip, {"username": username, "role": user.role.value})
        await db.commit()
        return user


async def _other_active_admins(db: AsyncSession, user_id: int) -> int:
    return await db.scalar(
        select(func.count()).select_from(User)
        .where(User.role == Role.ADMIN, User.is_active.is_(True), User.id != user_id)
    ) or 0


async def update_user(sessions: async_sessionmaker[AsyncSession], actor: Principal, user_id: int,
                      data: dict[str, Any], *, ip: str | None) -> User:
    if "password" in data:
        check_password_rules(data["password"])
        new_hash = await hash_password_async(data["password"])
    async with sessions() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        losing_admin = user.role == Role.ADMIN and user.is_active and (
            data.get("role", Role.ADMIN) != Role.ADMIN or data.get("is_active", True) is False
        )
        if losing_admin and not await _other_active_admins(db, user.id):
            raise Conflict(LAST_ADMIN)
        if "tenant_id" in data:
            await _check_tenant(db, data["tenant_id"])
        changed: dict[str, Any] = {}
        for name in ("email", "role", "is_active", "tenant_id"):
            if name in data and getattr(user, name) != data[name]:
                setattr(user, name, Role(data[name]) if name == "role" else data[name])
                changed[name] = str(data[name]) if name == "role" else data[name]
        if "password" in data:
            user.password_hash = new_hash
            user.failed_logins = 0
            user.locked_until = None
            changed["password_reset"] = True
        if "password" in data or data.get("is_active") is False:
            # A reset password or a disabled account must not keep living sessions through old refresh tokens.
            changed["refresh_tokens_revoked"] = await tokens.revoke_user_families(db, user.id)
        if changed:
            _record(db, actor, "user.update", user, ip, changed)
        await db.commit()
        return user


async def delete_user(sessions: async_sessionmaker[AsyncSession], actor: Principal, user_id: int, *,
                      ip: str | None) -> None:
    async with sessions() as db:
        user = await db.get(User, user_id)
        if user is None:
            raise NotFound("User not found")
        if user.role == Role.ADMIN and user.is_active and not await _other_active_admins(db, user.id):
            raise Conflict(LAST_ADMIN)
        _record(db, actor, "user.delete", user, ip, {"username": user.username, "role": user.role.value})
        await db.delete(user)
        await db.commit()
