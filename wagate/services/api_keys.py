"""API keys managed by admins: list (prefix, role, owner, last use, revoked), create (plaintext once), revoke."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import Role
from wagate.db.models_identity import ApiKey, Tenant, User
from wagate.db.types import utcnow
from wagate.errors import Invalid, NotFound
from wagate.services import audit, key_cache, key_requests
from wagate.services.credentials import new_api_key
from wagate.services.principal import Principal

log = structlog.get_logger("wagate.api_keys")
USAGE_FLUSH_S = 60.0  # last_used_at is precise to a minute: one UPDATE a minute per process, not one per request


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: ApiKey
    plaintext: str = field(repr=False)


async def list_keys(sessions: async_sessionmaker[AsyncSession]) -> list[ApiKey]:
    async with sessions() as db:
        return list(await db.scalars(select(ApiKey).order_by(ApiKey.id)))


async def create_key(sessions: async_sessionmaker[AsyncSession], actor: Principal, data: dict[str, Any], *,
                     ip: str | None) -> CreatedKey:
    """A new key owned by the given tenant or user (by default the admin creating it)."""
    new = new_api_key()
    tenant_id = data.get("tenant_id")
    user_id = data.get("user_id", None if tenant_id is not None else actor.user_id)
    async with sessions() as db:
        if tenant_id is not None and await db.get(Tenant, tenant_id) is None:
            raise Invalid("Invalid request", {"tenant_id": ["no such tenant"]})
        if user_id is not None and await db.get(User, user_id) is None:
            raise Invalid("Invalid request", {"user_id": ["no such user"]})
        key = ApiKey(name=data["name"], key_hash=new.hash, prefix=new.prefix, role=Role(data.get("role", Role.USER)),
                     tenant_id=tenant_id, user_id=user_id, expires_at=data.get("expires_at"))
        db.add(key)
        await db.flush()
        audit.record(db, actor_type=actor.actor_type, actor_id=actor.actor_id, action="api_key.create",
                     target_type="api_key", target_id=key.id, tenant_id=tenant_id, ip=ip,
                     details={"name": key.name, "role": key.role.value, "prefix": key.prefix})
        await db.commit()
        return CreatedKey(key, new.plaintext)


async def revoke_key(sessions: async_sessionmaker[AsyncSession], actor: Principal, key_id: int, *,
                     ip: str | None) -> ApiKey:
    """Revoke at once: this process refuses the key from the next request, others within key_cache.TTL_S."""
    async with sessions() as db:
        key = await db.get(ApiKey, key_id)
        if key is None:
            raise NotFound("API key not found")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            audit.record(db, actor_type=actor.actor_type, actor_id=actor.actor_id, action="api_key.revoke",
                         target_type="api_key", target_id=key.id, tenant_id=key.tenant_id, ip=ip,
                         details={"prefix": key.prefix})
        await db.commit()
        key_cache.forget()
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
