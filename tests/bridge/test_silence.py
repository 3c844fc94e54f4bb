"""Silent sessions through the real bridge: WORKING, nothing coming through, no answer to a ping: reconnected."""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis
from arq.jobs import Job
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, until, wait_status
from wagate.config import Settings
from wagate.db.enums import Direction, SessionStatus
from wagate.db.models_whatsapp import Message
from wagate.observability import metrics
from wagate.queue.jobs import enqueue_simulator_control
from wagate.queue.names import bridge_queue

FROM = "6285700000009"


def silent_count() -> float:
    return metrics.SESSIONS_SILENT.labels("0")._value.get()


async def test_a_silent_session_is_found_on_the_bridges_timer_reconnected_and_nothing_is_lost(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    for sid in ("quiet", "dead"):
        await add_session(db, sid)
        await link_session(running, db, arq_redis, settings, sid)
    silence = running.bridge.silence
    assert silence.check in running.bridge.watchdog.also  # on the bridge's one timer, not a timer per session
    assert await silence.check() == []  # both just heard from

    job_id = await enqueue_simulator_control(arq_redis, settings.bridge_shards, "dead", "go_silent", {})
    assert await Job(job_id, arq_redis, _queue_name=bridge_queue(0)).result(timeout=10) is None
    await running.sim.inject_message("dead", FROM, "halo, ada orang?")  # waits at WhatsApp meanwhile
    silence.silent_after_s = 0.2
    await until(lambda: running.sim.is_connected("dead"), what="still connected")
    before = silent_count()
    await asyncio.sleep(0.3)
    assert await silence.check() == ["dead"]  # "quiet" answered its ping: a quiet number, left alone
    assert silent_count() == before + 1
    event = await event_log.wait_for(lambda e: e["event"] == "session.status" and e["session"] == "dead"
                                     and e["data"]["status"] == "STARTING" and e["data"]["reason"])
    assert (event["data"]["reason"] or "").startswith("silent: no event from WhatsApp for")
    await wait_status(db, "dead", SessionStatus.WORKING)

    async def received() -> bool:
        async with db() as session:
            return bool(await session.scalar(select(Message.id).where(
                Message.session_id == "dead", Message.direction == Direction.INBOUND)))

    await until(received, what="the message that waited at WhatsApp")
    assert await silence.check() == []  # heard from again; "quiet" was pinged a moment ago
    closes = [e for e in event_log.items if e["event"] == "connection.close"]
    assert [e["session"] for e in closes] == ["dead"]
