"""Which live bridge drives each session that should run, read from Redis: for health, metrics and the bridges.

A session should run while its status is WORKING, STARTING or SCAN_QR_CODE. It is driven while its lease
(`lease_key`) names a bridge whose entry in the registry of live bridges (`BRIDGES_KEY`) has not lapsed, and
orphaned otherwise: nothing connects it, whatever its status column says, until a bridge claims it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.queue.names import BRIDGE_SHARDS_KEY, BRIDGES_KEY, lease_key

SHOULD_RUN = (SessionStatus.WORKING, SessionStatus.STARTING, SessionStatus.SCAN_QR_CODE)
ORPHANED_REASON = "orphaned: no live bridge drives this session; it is taken over when one runs for its shard"
_MGET_CHUNK = 1000


async def live_bridges(redis: Redis) -> dict[str, int]:
    """Owner id → shard of every bridge whose registry entry has not lapsed (by Redis's clock)."""
    seconds, micros = await redis.time()
    now_ms = seconds * 1000 + micros // 1000
    owners = [o.decode() if isinstance(o, bytes) else str(o)
              for o in await redis.zrangebyscore(BRIDGES_KEY, f"({now_ms}", "+inf")]
    if not owners:
        return {}
    shards = await redis.hmget(BRIDGE_SHARDS_KEY, owners)  # type: ignore[misc]
    return {owner: int(shard) if shard is not None else -1 for owner, shard in zip(owners, shards, strict=True)}


async def lease_holders(redis: Redis, session_ids: Sequence[str]) -> dict[str, str | None]:
    holders: dict[str, str | None] = {}
    for i in range(0, len(session_ids), _MGET_CHUNK):
        chunk = session_ids[i:i + _MGET_CHUNK]
        values = await redis.mget([lease_key(sid) for sid in chunk])
        holders.update({sid: v.decode() if isinstance(v, bytes) else v for sid, v in zip(chunk, values, strict=True)})
    return holders


@dataclass(slots=True)
class Driving:
    """Who drives the sessions that should run."""

    should_run: dict[str, SessionStatus] = field(default_factory=dict)  # session id → status column
    holders: dict[str, str | None] = field(default_factory=dict)  # session id → lease holder
    bridges: dict[str, int] = field(default_factory=dict)  # live bridge → shard

    @property
    def driven(self) -> list[str]:
        return [sid for sid in self.should_run if self.holders.get(sid) in self.bridges]

    @property
    def orphaned(self) -> list[str]:
        return [sid for sid in self.should_run if self.holders.get(sid) not in self.bridges]

    @property
    def connected(self) -> int:
        """WORKING, as its bridge wrote, and that bridge still alive and holding it."""
        return sum(1 for sid in self.driven if self.should_run[sid] == SessionStatus.WORKING)

    def summary(self) -> dict[str, int]:
        return {"should_run": len(self.should_run), "driven": len(self.driven), "orphaned": len(self.orphaned),
                "connected": self.connected, "bridges": len(self.bridges)}


async def should_run(on: AsyncSession | AsyncConnection) -> dict[str, SessionStatus]:
    rows = await on.execute(select(WaSession.id, WaSession.status).where(WaSession.status.in_(SHOULD_RUN)))
    return {sid: SessionStatus(status) for sid, status in rows.all()}


async def driving(redis: Redis, sessions: dict[str, SessionStatus]) -> Driving:
    """Who drives `sessions` (id → status, those that should run) right now."""
    bridges = await live_bridges(redis)
    return Driving(sessions, await lease_holders(redis, list(sessions)), bridges)


async def mark_orphans(db: async_sessionmaker[AsyncSession], redis: Redis) -> int:
    """Write `ORPHANED_REASON` as the status reason of orphaned sessions, and clear it from driven ones.

    The status stays as its bridge wrote it (the next bridge to claim the session writes the next one); the
    reason tells whoever reads the session that nothing drives it. Returns how many sessions are orphaned.
    """
    async with db() as session:
        state = await driving(redis, await should_run(session))
    orphaned, driven = state.orphaned, state.driven
    async with db() as session, session.begin():
        if orphaned:
            await session.execute(update(WaSession).where(
                WaSession.id.in_(orphaned), WaSession.status.in_(SHOULD_RUN),
            ).values(status_reason=ORPHANED_REASON))
        if driven:
            await session.execute(update(WaSession).where(
                WaSession.id.in_(driven), WaSession.status_reason == ORPHANED_REASON,
            ).values(status_reason=None))
    return len(orphaned)
