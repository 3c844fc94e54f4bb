"""The bridge's watchdog: a message left `queued` with nobody to wake its sender, or a sender that stopped, is
counted, logged as an error, shown in `/api/health` and recovered without an operator."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from tests.bridge.conftest import RunningBridge, add_session, link_session, sent_by, until, wait_message
from wagate.bridge.leases import lease_key
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, MessageType
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow

BOUND_S = 0.5


def stalls(kind: str) -> float:
    return REGISTRY.get_sample_value("wagate_stalls_total", {"kind": kind}) or 0.0


async def queued_without_a_wake_up(db: async_sessionmaker[AsyncSession], session_id: str) -> int:
    """A row `queued` and due a while ago, written without its send job or nudge (a wake-up lost)."""
    async with db() as session, session.begin():
        row = Message(session_id=session_id, direction=Direction.OUTBOUND, type=MessageType.TEXT,
                      recipient="6285711112222", body="tertinggal", status=MessageStatus.QUEUED,
                      created_at=utcnow() - timedelta(seconds=5))
        session.add(row)
        await session.flush()
        return row.id


async def test_a_message_whose_wake_up_was_lost_is_found_reported_and_sent(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    client: TestClient,
) -> None:
    await add_session(db, "wd1")
    await link_session(running, db, arq_redis, settings, "wd1")
    message_id = await queued_without_a_wake_up(db, "wd1")
    await asyncio.sleep(BOUND_S * 3)
    assert not sent_by(running.sim, "wd1")  # an idle sender does not look by itself: nothing else would send it
    watchdog = running.bridge.watchdog
    watchdog.bound_s = BOUND_S
    before = stalls("message_queued")

    with capture_logs() as logs:
        assert await watchdog.check() == ["wd1"]

    assert stalls("message_queued") == before + 1
    assert [e for e in logs if e["log_level"] == "error" and e.get("kind") == "message_queued"]
    await wait_message(db, message_id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    body = await (await client.get("/api/health")).json()
    assert body["status"] == "degraded"
    assert [(s["reporter"], s["kind"], s["count"]) for s in body["stalls"]] == [("bridge:0", "message_queued", 1)]


async def test_a_sender_that_stopped_is_restarted_and_a_busy_one_left_alone(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    for sid in ("wd2", "wd3"):
        await add_session(db, sid)
        await link_session(running, db, arq_redis, settings, sid)
    bridge = running.bridge
    dead = bridge.senders["wd2"]
    assert dead._task is not None
    dead._task.cancel()  # as if its loop had died

    async def stopped() -> bool:
        return not dead.running

    await until(stopped, what="the sender stopped")
    bridge.watchdog.bound_s = 3600  # "wd3" has nothing late: only the stopped sender counts
    before = stalls("sender_stopped")

    assert await bridge.watchdog.check() == ["wd2"]

    assert stalls("sender_stopped") == before + 1
    assert bridge.senders["wd2"] is not dead and bridge.senders["wd2"].running
    message_id = await queued_without_a_wake_up(db, "wd2")
    bridge.wake("wd2")
    await wait_message(db, message_id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


async def test_a_working_session_no_bridge_drives_is_reported_and_connected_again(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    """The stall a lapsed lease left: the row says WORKING, the bridge dropped the session, nobody sends."""
    await add_session(db, "wd4")
    await link_session(running, db, arq_redis, settings, "wd4")
    bridge = running.bridge
    await arq_redis.delete(lease_key("wd4"))  # lapsed, and no other bridge took it
    bridge.leases.held.discard("wd4")
    await bridge._lease_lost("wd4")  # what the bridge does when it finds its lease gone
    message_id = await queued_without_a_wake_up(db, "wd4")
    bridge.watchdog.bound_s = BOUND_S
    before = stalls("message_queued")

    with capture_logs() as logs:
        assert await bridge.watchdog.check() == ["wd4"]

    assert stalls("message_queued") == before + 1
    assert [e for e in logs if e["log_level"] == "error" and e.get("undriven") == 1]
    # The start command's job, the reconnect and the send: a few seconds here, more on a loaded machine.
    await wait_message(db, message_id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, timeout=30)
    assert "wd4" in bridge.leases.held
