"""Who drives which session, read from the real Valkey and database; orphaned sessions named in their status reason."""

from __future__ import annotations

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import add_session
from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.queue.names import BRIDGE_SHARDS_KEY, BRIDGES_KEY, lease_key
from wagate.services.sessions import drivers
from workers.worker import CRON_JOBS

LIVE = "bridge-a.internal:4026531836:101:0a1b2c3d"
LAPSED = "bridge-b.internal:4026531836:202:0a1b2c3d"


async def reasons(db: async_sessionmaker[AsyncSession]) -> dict[str, str | None]:
    async with db() as session:
        return {sid: reason for sid, reason in (await session.execute(select(WaSession.id, WaSession.status_reason)))}


async def test_sessions_no_live_bridge_drives_are_orphaned_and_say_so_until_one_does(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
) -> None:
    seconds, _ = await arq_redis.time()
    await arq_redis.zadd(BRIDGES_KEY, {LIVE: (seconds + 60) * 1000, LAPSED: (seconds - 1) * 1000})
    await arq_redis.hset(BRIDGE_SHARDS_KEY, mapping={LIVE: "0", LAPSED: "0"})  # type: ignore[misc]
    await add_session(db, "driven", status=SessionStatus.WORKING, status_reason=drivers.ORPHANED_REASON)
    await add_session(db, "dead-holder", status=SessionStatus.WORKING)
    await add_session(db, "no-lease", status=SessionStatus.SCAN_QR_CODE)
    await add_session(db, "stopped", status=SessionStatus.STOPPED, status_reason="stopped by an operator")
    await arq_redis.set(lease_key("driven"), LIVE)
    await arq_redis.set(lease_key("dead-holder"), LAPSED)

    async with db() as session:
        state = await drivers.driving(arq_redis, await drivers.should_run(session))
    assert state.bridges == {LIVE: 0}
    assert sorted(state.driven) == ["driven"] and sorted(state.orphaned) == ["dead-holder", "no-lease"]
    assert state.summary() == {"should_run": 3, "driven": 1, "orphaned": 2, "connected": 1, "bridges": 1}

    assert await drivers.mark_orphans(db, arq_redis) == 2
    assert await reasons(db) == {"driven": None, "dead-holder": drivers.ORPHANED_REASON,
                                 "no-lease": drivers.ORPHANED_REASON, "stopped": "stopped by an operator"}

    await arq_redis.set(lease_key("dead-holder"), LIVE)  # a live bridge took it over
    assert await drivers.mark_orphans(db, arq_redis) == 1
    assert (await reasons(db))["dead-holder"] is None


def test_the_worker_marks_orphans_every_15_seconds_and_at_start() -> None:
    [job] = [j for j in CRON_JOBS if j.name == "cron:orphan_sweep"]
    assert job.run_at_startup and job.unique and job.second == {0, 15, 30, 45}
