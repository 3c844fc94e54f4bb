"""API keys managed by admins: list (prefix, role, owner, last use, revoked), create (plaintext once), revoke.

An admin bound to a tenant sees, makes and revokes that tenant's keys only, none above its own role.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import Role
from wagate.db.models_identity import ApiKey, Tenant, User
from wagate.db.types import utcnow
from wagate.errors import Invalid, NotFound, OtherTenant
from wagate.services.identity import key_cache, key_requests
from wagate.services.identity.credentials import new_api_key
from wagate.services.identity.principal import Principal, check_grant
from wagate.services.operations import audit

log = structlog.get_logger("wagate.api_keys")
USAGE_FLUSH_S = 60.0  # last_used_at is precise to a minute: one UPDATE a minute per process, not one per request


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    plaintext: str = field(repr=False)


async def _key_tenant(db: AsyncSession, key: ApiKey) -> int | None:
    """The tenant a key is bound to: its own, or else its owner's (see `auth.api_key_principal`)."""
    if key.tenant_id is not None or key.user_id is None:
        return key.tenant_id
    return await db.scalar(select(User.tenant_id).where(User.id == key.user_id))


async def list_keys(sessions: async_sessionmaker[AsyncSession], actor: Principal) -> list[ApiKey]:
    """Every key, or a tenant-bound caller's tenant's keys (bound to it, or owned by one of its users)."""
    query = select(ApiKey).order_by(ApiKey.id)
    if actor.tenant_id is not None:
        tenant_users = select(User.id).where(User.tenant_id == actor.tenant_id)
        query = query.where(or_(ApiKey.tenant_id == actor.tenant_id, ApiKey.user_id.in_(tenant_users)))
    async with sessions() as db:
        return list(await db.scalars(query))


async def _owner(db: AsyncSession, actor: Principal, user_id: int, role: Role, tenant_id: int | None) -> User:
    """The user a new key is given to: one the caller can see, whose role and tenant cover the key's."""
    owner = await db.get(User, user_id)
    if owner is None or not actor.sees(owner.tenant_id):
        raise Invalid("Invalid request", {"user_id": ["no such user"]})
    if not Principal("user", role=owner.role).may_grant(role):
        raise Invalid("Invalid request", {"role": [f"is above the role of its owner ({owner.role})"]})
    if owner.tenant_id is not None and tenant_id not in (None, owner.tenant_id):
        raise Invalid("Invalid request", {"tenant_id": [f"must be its owner's tenant ({owner.tenant_id})"]})
    return owner


async def create_key(sessions: async_sessionmaker[AsyncSession], actor: Principal, data: dict[str, Any], *,
                     ip: str | None) -> CreatedKey:
    """A new key. Bound to the caller's tenant unless the request names one; a tenant-bound caller can name no
    other (403), nor a role above its own. Owned by the given user, else by the caller (an install-wide admin's
    key for a tenant belongs to that tenant alone): its owner's role and state bound it from then on."""
    role = Role(data.get("role", Role.USER))
    tenant_id = data.get("tenant_id", actor.tenant_id)
    check_grant(actor, role=role, tenant_id=tenant_id, what="an API key")
    new = new_api_key()
    async with sessions() as db:
        if tenant_id is not None and await db.get(Tenant, tenant_id) is None:
            raise Invalid("Invalid request", {"tenant_id": ["no such tenant"]})
        if "user_id" in data and data["user_id"] is not None:
            owner = await _owner(db, actor, data["user_id"], role, tenant_id)
            user_id: int | None = owner.id
            tenant_id = owner.tenant_id if tenant_id is None else tenant_id
        else:
            user_id = actor.user_id if actor.tenant_id is not None or tenant_id is None else None
        key = ApiKey(name=data["name"], key_hash=new.hash, prefix=new.prefix, role=role, tenant_id=tenant_id,
                     user_id=user_id, expires_at=data.get("expires_at"))
        db.add(key)
        await db.flush()
        audit.record(db, actor_type=actor.actor_type, actor_id=actor.actor_id, action="api_key.create",
                     target_type="api_key", target_id=key.id, tenant_id=tenant_id, ip=ip,
                     details={"name": key.name, "role": key.role.value, "prefix": key.prefix})
        await db.commit()
        return CreatedKey(key, new.plaintext)


async def revoke_key(sessions: async_sessionmaker[AsyncSession], redis: Any, actor: Principal, key_id: int, *,
                     ip: str | None) -> ApiKey:
    """Revoke at once, on every web process; another tenant's key is "not found" to a tenant-bound caller."""
    async with sessions() as db:
        key = await db.get(ApiKey, key_id)
        if key is None:
            raise NotFound("API key not found")
        if not actor.sees(await _key_tenant(db, key)):
            raise OtherTenant("API key not found", f"API key {key_id} is outside the caller's tenant")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            audit.record(db, actor_type=actor.actor_type, actor_id=actor.actor_id, action="api_key.revoke",
                         target_type="api_key", target_id=key.id, tenant_id=key.tenant_id, ip=ip,
                         details={"prefix": key.prefix})
        await db.commit()
    await key_cache.announce(redis)
    return key


class KeyUsage:
    """Collects the keys used since the last flush: writes their `last_used_at` in one batched UPDATE and adds
    their request counts to the hour's totals in Redis (`key_requests`)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: Any,
                 interval_s: float = USAGE_FLUSH_S) -> None:
        self._sessions = sessions
        self._redis = redis
        self._interval_s = interval_s
        self._unstamped: set[int] = set()
        self._uncounted: Counter[int] = Counter()
        self._task: asyncio.Task[None] | None = None

    def used(self, key_id: int) -> None:
        self._unstamped.add(key_id)
        self._uncounted[key_id] += 1

    async def flush(self) -> None:
        """Write what was collected; what a database or Redis hiccup refuses is kept for the next flush."""
        key_ids, self._unstamped = self._unstamped, set()
        counts, self._uncounted = self._uncounted, Counter()
        if key_ids:
            try:
                async with self._sessions() as db:
                    await db.execute(update(ApiKey).where(ApiKey.id.in_(sorted(key_ids)))
                                     .values(last_used_at=utcnow()))
                    await db.commit()
            except Exception:
                self._unstamped |= key_ids
                log.warning("could not record API key use; retrying at the next flush", keys=len(key_ids),
                            exc_info=True)
        if counts:
            try:
                await key_requests.add(self._redis, counts, utcnow())
            except Exception:
                self._uncounted.update(counts)
                log.warning("could not count API key requests; retrying at the next flush", keys=len(counts),
                            exc_info=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="api-key-usage")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
