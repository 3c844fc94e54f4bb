"""WhatsApp's send limits through the real bridge: new contacts paused, replies flowing, resumed by itself."""

from __future__ import annotations

import asyncio
import time

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import (
    EventLog,
    RunningBridge,
    add_session,
    get_message,
    link_session,
    sent_by,
    until,
    wait_message,
)
from wagate.bridge.send_limits import limit_key
from wagate.config import Settings
from wagate.db.enums import MessageStatus
from wagate.db.models_whatsapp import WaSession
from wagate.queue.jobs import enqueue_simulator_control
from wagate.queue.names import bridge_queue
from wagate.services.messaging.sending import SendRequest, queue_message

FRIEND = "6285700000001"  # has written to the session: a reply goes to a known chat
STRANGERS = ("6285700000002", "6285700000003")

pytestmark = pytest.mark.parametrize("bridge_env", [{"SEND_LIMIT_PAUSE_S": "1", "SEND_GAP_MS": "50"}])


async def send(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, to: str, text: str) -> int:
    queued = await queue_message(db, redis, settings, SendRequest(session_id="lim", to=to, text=text))
    return queued.message.id


async def test_new_contacts_wait_out_the_limit_while_replies_flow_and_it_lifts_by_itself(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "lim")
    await link_session(running, db, arq_redis, settings, "lim")
    await running.sim.inject_message("lim", FRIEND, "Halo, stok masih ada?")
    # WhatsApp's timelock for 2.5 s, played through the simulator's job on the bridge's queue
    job_id = await enqueue_simulator_control(arq_redis, settings.bridge_shards, "lim", "set_send_limit",
                                             {"seconds": 2.5, "code": 463})
    assert await Job(job_id, arq_redis, _queue_name=bridge_queue(0)).result(timeout=10) is None
    started = time.monotonic()

    first = await send(db, arq_redis, settings, STRANGERS[0], "promo 1")
    limited = await event_log.wait_for(lambda e: e["event"] == "session.limited")
    assert limited["session"] == "lim" and limited["data"]["code"] == 463 and limited["data"]["pauseSeconds"] == 1
    async with db() as session:
        row = await session.get(WaSession, "lim")
    assert row is not None and (row.status_reason or "").startswith("WhatsApp limits sends to new contacts")
    assert await arq_redis.exists(limit_key("lim"))

    second = await send(db, arq_redis, settings, STRANGERS[1], "promo 2")
    reply = await send(db, arq_redis, settings, FRIEND, "Masih, kak")
    assert (await wait_message(db, reply, MessageStatus.SENT, MessageStatus.READ, timeout=5)).attempts == 1
    replied_at = time.monotonic() - started
    for mid in (first, second):  # held back, not failed, not counted as attempts
        row_ = await wait_message(db, mid, MessageStatus.QUEUED)
        assert row_.attempts == 0

    # the pause ends at 1 s: the probe is refused again (the lock lasts 2.5 s), the pause doubles to 2 s, then
    # the next probe is taken and the limit lifts by itself
    for mid in (first, second):
        await wait_message(db, mid, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, timeout=15)
    lifted = await event_log.wait_for(lambda e: e["event"] == "session.unlimited")
    resumed_at = time.monotonic() - started
    pauses = [e["data"]["pauseSeconds"] for e in event_log.items if e["event"] == "session.limited"]
    assert pauses == [1, 2] and lifted["session"] == "lim"
    async with db() as session:
        row = await session.get(WaSession, "lim")
    assert row is not None and row.status_reason is None
    assert not await arq_redis.exists(limit_key("lim"))
    texts = [s.text or "" for s in sent_by(running.sim, "lim")]
    assert texts.index("Masih, kak") < texts.index("promo 1") and sorted(texts) == ["Masih, kak", "promo 1",
                                                                                    "promo 2"]
    print(f"\nreply sent {replied_at:.2f} s into the limit; new contacts resumed after {resumed_at:.2f} s")


async def test_the_limit_survives_a_bridge_restart(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "lim")
    await link_session(running, db, arq_redis, settings, "lim")
    running.sim.set_send_limit("lim", 60, code=463)
    await send(db, arq_redis, settings, STRANGERS[0], "promo 1")
    sender = running.bridge.senders["lim"]
    await until(lambda: asyncio.sleep(0, sender.limit.limited), what="the limit met")
    await running.bridge.restart_sender("lim")  # a fresh loop reads the limit back from Redis
    fresh = running.bridge.senders["lim"]
    assert fresh is not sender
    second = await send(db, arq_redis, settings, STRANGERS[1], "promo 2")

    async def held() -> bool:
        row = await get_message(db, second)
        return row.status == MessageStatus.QUEUED and row.send_at is not None and row.error is None

    await until(held, what="the message held back without a try")
    assert fresh.limit.limited and (await get_message(db, second)).attempts == 0
    assert sent_by(running.sim, "lim") == []
