"""Broadcasts end to end: a real worker (expansion, tick) and a real bridge with the simulator, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, sent_by, until
from tests.workers import InLoopWorker, start_in_loop
from wagate.config import Settings
from wagate.db.enums import ActorType, BroadcastStatus, MessageStatus
from wagate.db.models_delivery import Broadcast
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.queue.names import WORKER_QUEUE
from wagate.services.broadcasts import campaigns
from wagate.services.broadcasts.campaigns import BroadcastRequest
from wagate.services.broadcasts.progress import expand_chunk, progress_of
from wagate.services.broadcasts.recipients import from_records
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.services.sessions.lifecycle import Actor
from workers.worker import create_worker

ACTOR = Actor(ActorType.SYSTEM, "test")
FAST = {"BULK_GAP_MS": "50", "SEND_GAP_MS": "50"}


async def start_worker(settings: Settings) -> InLoopWorker:
    return await start_in_loop(create_worker(settings, handle_signals=False))


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[InLoopWorker]:
    handle = await start_worker(settings)
    yield handle
    await handle.stop()


def numbers(n: int) -> list[str]:
    return [f"62813{20000000 + i}" for i in range(n)]


async def start(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, n: int,
                **fields: object) -> Broadcast:
    recipients = from_records([{"phone": p, "name": f"Tamu {i}"} for i, p in enumerate(numbers(n))], "ID")
    broadcast, _ = await campaigns.create_broadcast(db, redis, settings, BroadcastRequest(
        session_id="b1", name="Promo", template="Halo {name}, promo hari ini!", recipients=recipients,
        **fields), tenant_id=None, actor=ACTOR)  # type: ignore[arg-type]
    return broadcast


async def row(db: async_sessionmaker[AsyncSession], broadcast_id: int) -> Broadcast:
    async with db() as s:
        found = await s.get(Broadcast, broadcast_id)
    assert found is not None
    return found


def completed(log: EventLog, broadcast_id: int) -> list[dict[str, object]]:
    return [e for e in log.items if e["event"] == "broadcast.completed" and e["data"]["broadcastId"] == broadcast_id]


@pytest.mark.parametrize("bridge_env", [FAST])
async def test_twenty_recipients_complete_with_exact_counts_and_one_event(
    running: RunningBridge, worker: InLoopWorker, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
    settings: Settings, event_log: EventLog,
) -> None:
    await add_session(db, "b1")
    await link_session(running, db, arq_redis, settings, "b1")
    running.sim.set_not_on_whatsapp(numbers(20)[7])
    began = asyncio.get_running_loop().time()
    broadcast = await start(db, arq_redis, settings, 20)

    event = await event_log.wait_for(lambda e: e["event"] == "broadcast.completed", timeout=30)
    took = asyncio.get_running_loop().time() - began
    print(f"20-recipient broadcast completed in {took:.2f} s")
    assert event["session"] == "b1"
    assert event["data"]["status"] == "completed" and event["data"]["total"] == 20
    assert (event["data"]["sent"], event["data"]["failed"], event["data"]["pending"]) == (19, 1, 0)
    texts = sorted(s.text or "" for s in sent_by(running.sim, "b1"))
    assert texts == sorted(f"Halo Tamu {i}, promo hari ini!" for i in range(20) if i != 7)  # each exactly once

    async def all_read() -> bool:
        async with db() as s:
            return (await progress_of(s, broadcast.id)).read == 19

    await until(all_read, what="every read receipt")
    async with db() as s:
        view = await campaigns.get_broadcast(s, broadcast.id, None)
    assert view.progress.as_dict() == {"total": 20, "pending": 0, "not_expanded": 0, "queued": 0, "sent": 19,
                                       "delivered": 19, "read": 19, "failed": 1}
    finished = await row(db, broadcast.id)
    assert finished.status == BroadcastStatus.COMPLETED and finished.completed_at is not None
    await asyncio.sleep(5.5)  # at least one more tick: still one event
    assert len(completed(event_log, broadcast.id)) == 1
    assert (await row(db, broadcast.id)).read_count == 19  # ticks keep no counters after the end; GET counts live


@pytest.mark.parametrize("bridge_env", [{"BULK_GAP_MS": "150", "SEND_GAP_MS": "50"}])
async def test_a_normal_message_goes_before_the_remaining_bulk(
    running: RunningBridge, worker: InLoopWorker, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
    settings: Settings,
) -> None:
    await add_session(db, "b1")
    await link_session(running, db, arq_redis, settings, "b1")
    broadcast = await start(db, arq_redis, settings, 30)
    await until(lambda: _sent_at_least(running, 3), what="the broadcast to start")
    queued = await queue_message(db, arq_redis, settings, SendRequest(session_id="b1", to="6285712345678",
                                                                      text="normal, not bulk"))
    await until(lambda: _has_text(running, "normal, not bulk"), what="the normal message")
    texts = [s.text for s in sent_by(running.sim, "b1")]
    position = texts.index("normal, not bulk")
    print(f"normal message sent as #{position + 1} of {len(texts)} so far; 30 bulk were queued")
    assert position <= 5  # 3 or 4 bulk before it (one may have been in flight), never the rest
    async with db() as s:
        left = await s.scalar(select(func.count()).select_from(Message).where(
            Message.broadcast_id == broadcast.id, Message.status == MessageStatus.QUEUED))
    assert left is not None and left >= 20
    assert queued.message.id


@pytest.mark.parametrize("bridge_env", [{"BULK_GAP_MS": "150", "SEND_GAP_MS": "50"}])
async def test_pause_holds_resume_continues_cancel_fails_the_rest(
    running: RunningBridge, worker: InLoopWorker, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
    settings: Settings, event_log: EventLog,
) -> None:
    await add_session(db, "b1")
    await link_session(running, db, arq_redis, settings, "b1")
    broadcast = await start(db, arq_redis, settings, 40)
    await until(lambda: _sent_at_least(running, 3), what="the broadcast to start")
    await campaigns.pause_broadcast(db, broadcast.id, None, ACTOR)
    at_pause = len(sent_by(running.sim, "b1"))
    await asyncio.sleep(1.5)  # ten gaps
    held = len(sent_by(running.sim, "b1"))
    assert held <= at_pause + 1  # only a send already picked when the pause committed

    await campaigns.resume_broadcast(db, arq_redis, broadcast.id, None, ACTOR, shards=settings.bridge_shards)
    await until(lambda: _sent_at_least(running, held + 3), what="sending to resume")
    await campaigns.cancel_broadcast(db, broadcast.id, None, ACTOR)
    event = await event_log.wait_for(lambda e: e["event"] == "broadcast.completed", timeout=15)
    final = len(sent_by(running.sim, "b1"))
    assert final < 40
    assert event["data"]["status"] == "cancelled"
    assert event["data"]["sent"] + event["data"]["failed"] == 40 and event["data"]["sent"] == final
    async with db() as s:
        cancelled = await s.scalar(select(func.count()).select_from(Message).where(
            Message.broadcast_id == broadcast.id, Message.error == "broadcast cancelled"))
    assert cancelled == 40 - final
    await asyncio.sleep(0.6)
    assert len(sent_by(running.sim, "b1")) == final


@pytest.mark.parametrize("bridge_env", [FAST])
async def test_expansion_lost_mid_way_resumes_without_sending_twice(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "b1")
    await link_session(running, db, arq_redis, settings, "b1")
    broadcast = await start(db, arq_redis, settings, 120)
    # A worker expanded the first chunk and died; Redis lost the worker queue and its jobs (not FLUSHALL: that
    # would also drop the bridge's session lease, and the bridge rightly stops driving a session it cannot hold).
    await expand_chunk(db, arq_redis, settings, broadcast.id)
    lost = [key async for key in arq_redis.scan_iter(f"{job_key_prefix}broadcast:*")]
    await arq_redis.delete(WORKER_QUEUE, *lost)
    assert lost
    handle = await start_worker(settings)  # the restart: its start-up tick finds the broadcast without a job
    try:
        await event_log.wait_for(lambda e: e["event"] == "broadcast.completed", timeout=60)
    finally:
        await handle.stop()
    sent = [s.to for s in sent_by(running.sim, "b1")]
    assert len(sent) == 120 and len(set(sent)) == 120
    assert (await row(db, broadcast.id)).status == BroadcastStatus.COMPLETED


@pytest.mark.parametrize("bridge_env", [FAST])
async def test_a_scheduled_broadcast_starts_at_its_time(
    running: RunningBridge, worker: InLoopWorker, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
    settings: Settings, event_log: EventLog,
) -> None:
    await add_session(db, "b1")
    await link_session(running, db, arq_redis, settings, "b1")
    start_at = utcnow() + timedelta(seconds=3)
    broadcast = await start(db, arq_redis, settings, 3, start_at=start_at)
    assert broadcast.status == BroadcastStatus.SCHEDULED
    await asyncio.sleep(1)
    assert sent_by(running.sim, "b1") == []
    await event_log.wait_for(lambda e: e["event"] == "broadcast.completed", timeout=20)
    first = min(s.at for s in sent_by(running.sim, "b1"))
    assert first >= start_at.timestamp() and len(sent_by(running.sim, "b1")) == 3


async def _sent_at_least(handle: RunningBridge, n: int) -> bool:
    return len(sent_by(handle.sim, "b1")) >= n


async def _has_text(handle: RunningBridge, text: str) -> bool:
    return any(s.text == text for s in sent_by(handle.sim, "b1"))
