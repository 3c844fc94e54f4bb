"""Dashboard users managed by admins: list, create, change (role, active flag, password reset), delete.

The gateway always keeps one active install-wide admin: the last one cannot be deleted, demoted, deactivated or
bound to a tenant, or nobody could manage the install again without the command line.

An admin bound to a tenant manages that tenant's users only: others are "not found" to it, and it can neither
give a user another tenant (or none) nor a role above its own. A change to a user's role, active flag or tenant,
and its deletion, reaches that user's API keys at once, on every web process (`key_cache.announce`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import Role
from wagate.db.models_identity import Tenant, User
from wagate.errors import Conflict, Forbidden, Invalid, NotFound, OtherTenant
from wagate.services.identity import key_cache, tokens
from wagate.services.identity.auth import check_password_rules
from wagate.services.identity.credentials import hash_password_async
from wagate.services.identity.principal import Principal, check_grant
from wagate.services.operations import audit

LAST_ADMIN = "The last active admin of the install cannot be deleted, demoted, deactivated or bound to a tenant"
# What a user's API keys inherit from it: a change to any of these must reach the key cache of every process.
KEY_BOUNDS = ("role", "is_active", "tenant_id")


def _record(db: AsyncSession, actor: Principal, action: str, user: User, ip: str | None,
            details: dict[str, Any] | None = None) -> None:
    audit.record(db, actor_type=actor.actor_type, actor_id=actor.actor_id, action=action, target_type="user",
                 target_id=user.id, tenant_id=user.tenant_id, ip=ip, details=details)


async def list_users(sessions: async_sessionmaker[AsyncSession], actor: Principal) -> list[User]:
    """Every user, or a tenant-bound caller's tenant's users."""
    query = select(User).order_by(User.id)
    if actor.tenant_id is not None:
        query = query.where(User.tenant_id == actor.tenant_id)
    async with sessions() as db:
        return list(await db.scalars(query))


def _within_reach(actor: Principal, user: User | None, user_id: int) -> User:
    """The user, if it exists and is inside the caller's tenant; another tenant's user is "not found"."""
    if user is None:
        raise NotFound("User not found")
    if not actor.sees(user.tenant_id):
        raise OtherTenant("User not found", f"user {user_id} is outside the caller's tenant")
    return user


def _changeable(actor: Principal, user: User) -> None:
    if not actor.may_grant(user.role):
        raise Forbidden(f"A {actor.role} cannot change or delete a user whose role ({user.role}) is above its own")


async def get_user(sessions: async_sessionmaker[AsyncSession], actor: Principal, user_id: int) -> User:
    async with sessions() as db:
        return _within_reach(actor, await db.get(User, user_id), user_id)


async def _check_tenant(db: AsyncSession, tenant_id: int | None) -> None:
    if tenant_id is not None and await db.get(Tenant, tenant_id) is None:
        raise Invalid("Invalid request", {"tenant_id": ["no such tenant"]})


async def create_user(sessions: async_sessionmaker[AsyncSession], actor: Principal, data: dict[str, Any], *,
                      ip: str | None) -> User:
    """A new user; a tenant-bound caller's users are in its tenant unless the request names another (refused)."""
    tenant_id = data.get("tenant_id", actor.tenant_id)
    role = Role(data.get("role", Role.USER))
    check_grant(actor, role=role, tenant_id=tenant_id, what="a user")
    check_password_rules(data["password"])
    username = data["username"].strip().lower()
    password_hash = await hash_password_async(data["password"])
    async with sessions() as db:
        await _check_tenant(db, tenant_id)
        if await db.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict("Username already taken", {"username": username})
        user = User(username=username, email=data.get("email"), password_hash=password_hash, role=role,
                    tenant_id=tenant_id, is_active=data.get("is_active", True))
        db.add(user)
        try:
            await db.flush()
        except IntegrityError:  # a concurrent create of the same name
            raise Conflict("Username already taken", {"username": username}) from None
        _record(db, actor, "user.create", user, ip, {"username": username, "role": user.role.value})
        await db.commit()
        return user


def _install_admin(user: User) -> bool:
    return user.role == Role.ADMIN and user.is_active and user.tenant_id is None


async def _other_install_admins(db: AsyncSession, user_id: int) -> int:
    return await db.scalar(
        select(func.count()).select_from(User)
        .where(User.role == Role.ADMIN, User.is_active.is_(True), User.tenant_id.is_(None), User.id != user_id)
    ) or 0


async def update_user(sessions: async_sessionmaker[AsyncSession], redis: Any, actor: Principal, user_id: int,
                      data: dict[str, Any], *, ip: str | None) -> User:
    """Change a user; a tenant-bound caller only its tenant's users, never moving them out nor above its role."""
    if "password" in data:
        check_password_rules(data["password"])
        new_hash = await hash_password_async(data["password"])
    async with sessions() as db:
        user = _within_reach(actor, await db.get(User, user_id), user_id)
        _changeable(actor, user)
        check_grant(actor, role=data.get("role"), tenant_id=data.get("tenant_id", user.tenant_id),
                    what=f"user {user_id}")
        losing_admin = _install_admin(user) and (
            data.get("role", Role.ADMIN) != Role.ADMIN or data.get("is_active", True) is False
            or data.get("tenant_id") is not None
        )
        if losing_admin and not await _other_install_admins(db, user.id):
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
    if any(name in changed for name in KEY_BOUNDS):
        await key_cache.announce(redis)  # after the commit: its keys are bound by what it is now
    return user


async def delete_user(sessions: async_sessionmaker[AsyncSession], redis: Any, actor: Principal, user_id: int, *,
                      ip: str | None) -> None:
    async with sessions() as db:
        user = _within_reach(actor, await db.get(User, user_id), user_id)
        _changeable(actor, user)
        if _install_admin(user) and not await _other_install_admins(db, user.id):
            raise Conflict(LAST_ADMIN)
        _record(db, actor, "user.delete", user, ip, {"username": user.username, "role": user.role.value})
        await db.delete(user)
        await db.commit()
    await key_cache.announce(redis)  # its keys went with it (ON DELETE CASCADE): no process may still accept them
