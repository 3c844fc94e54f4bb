"""Broadcasts and scheduled sends across restarts: a real bridge process SIGKILLed mid-broadcast and the worker
restarted mid-expansion (1,000 recipients, counted from the simulator's durable sent log), a media broadcast,
and a scheduled message that outlives a restart of both before it is due."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import RunningBridge, add_session, link_session, sent_by, start_bridge, until
from tests.bridge.test_broadcast_delivery import numbers, row, start, start_worker
from tests.bridge.test_crash import BridgeProcess, start_linked
from tests.services.webhook_receiver import ADMIN, DummyReceiver, wait_deliveries
from tests.workers import InLoopWorker
from wagate.config import Settings
from wagate.db.enums import BroadcastStatus, MessageStatus
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.services.broadcasts import campaigns
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.services.webhooks import endpoints
from wagate.transport.simulator.wire import read_sent_log, sent_log_file

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200))
UNPACED = {"BULK_GAP_MS": "0", "SEND_GAP_MS": "0", "WEBHOOK_ALLOW_PRIVATE": "true",
           "WEBHOOK_RETRY_FAST_S": "0.1,0.1,0.1,0.1,0.1", "WEBHOOK_RETRY_JITTER": "0"}


async def expanded(db: async_sessionmaker[AsyncSession], broadcast_id: int) -> int:
    async with db() as s:
        return await s.scalar(select(func.count()).select_from(Message).where(
            Message.broadcast_id == broadcast_id)) or 0


@pytest.mark.slow
@pytest.mark.parametrize("bridge_env", [UNPACED])
async def test_a_thousand_recipients_through_a_bridge_sigkill_and_a_worker_restart_each_get_one_message(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, tmp_path: Path,
) -> None:
    total = 1000
    receiver = DummyReceiver()
    await receiver.start()
    await endpoints.create_webhook(db, settings, ADMIN, {"url": receiver.url, "events": ["broadcast.completed"]})
    sent_log = sent_log_file(settings.auth_sessions_dir)
    bridge = BridgeProcess(settings, tmp_path / "bridge.log")
    bridge.env.update(BULK_GAP_MS="0", SEND_GAP_MS="0")
    worker: InLoopWorker | None = None
    began = asyncio.get_running_loop().time()
    try:
        await start_linked(bridge, db, arq_redis, settings, "b1", "6281700000009")

        worker = await start_worker(settings)
        broadcast = await start(db, arq_redis, settings, total)
        async def expansion_begun() -> bool:
            return await expanded(db, broadcast.id) > 0

        await until(expansion_begun, timeout=10, what="expansion to begin")
        await worker.stop()  # the worker's restart, mid-expansion
        worker = None
        at_worker_stop = await expanded(db, broadcast.id)

        async def a_third_sent() -> bool:
            return len(read_sent_log(sent_log)) >= total // 3

        worker = await start_worker(settings)
        await until(a_third_sent, timeout=30, what="a third of the broadcast sent")
        bridge.kill()
        at_kill = len(read_sent_log(sent_log))
        bridge.start()  # takes the killed process's session lease over at once

        async def completion_posted() -> bool:
            return _completed_posts(receiver) > 0

        await until(completion_posted, timeout=40, what="broadcast.completed at the receiver")
        took = asyncio.get_running_loop().time() - began
        await worker.stop()
        worker = await start_worker(settings)  # its start-up tick looks at the finished broadcast again
        await asyncio.sleep(1.5)
    finally:
        if worker is not None:
            await worker.stop()
        bridge.stop()
        await receiver.stop()

    log = [line for line in read_sent_log(sent_log) if line["session_id"] == "b1"]
    copies = Counter(str(line["to"]) for line in log)
    print(f"1,000 recipients: worker stopped after {at_worker_stop} expanded, bridge killed after {at_kill} sent; "
          f"completed in {took:.1f} s, {len({line['pid'] for line in log})} bridge processes")
    assert 0 < at_worker_stop < total and 0 < at_kill < total
    assert sorted(copies) == sorted(f"{n}@s.whatsapp.net" for n in numbers(total))  # nobody lost
    assert set(copies.values()) == {1}  # nobody twice
    assert len({line["pid"] for line in log}) == 2
    async with db() as s:
        view = await campaigns.get_broadcast(s, broadcast.id, None)
    progress = view.progress.as_dict()
    assert (progress["total"], progress["pending"], progress["not_expanded"], progress["queued"],
            progress["sent"], progress["failed"]) == (total, 0, 0, 0, total, 0)
    assert (await row(db, broadcast.id)).status == BroadcastStatus.COMPLETED
    [event] = [json.loads(r.body) for r in receiver.requests if r.headers["X-WAGate-Event"] == "broadcast.completed"]
    assert event["data"]["broadcastId"] == broadcast.id and event["data"]["status"] == "completed"
    assert (event["data"]["total"], event["data"]["sent"], event["data"]["failed"]) == (total, total, 0)
    assert len(await wait_deliveries(db, 1, event="broadcast.completed")) == 1


def _completed_posts(receiver: DummyReceiver) -> int:
    return sum(1 for r in receiver.requests if r.headers["X-WAGate-Event"] == "broadcast.completed")


@pytest.mark.parametrize("bridge_env", [UNPACED])
async def test_a_media_broadcast_gives_each_recipient_the_image(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "b1")
    await link_session(running, db, arq_redis, settings, "b1")
    worker = await start_worker(settings)
    try:
        broadcast = await start(db, arq_redis, settings, 5, media=PNG, media_type="image", file_name="promo.png")
        assert broadcast.media_mime == "image/png"

        async def all_sent() -> bool:
            return len(sent_by(running.sim, "b1")) >= 5

        await until(all_sent, timeout=20, what="the five sends")
    finally:
        await worker.stop()
    sent = sent_by(running.sim, "b1")
    assert sorted(s.to for s in sent) == sorted(f"{n}@s.whatsapp.net" for n in numbers(5))
    assert {s.kind for s in sent} == {"image"}
    assert all(s.media is not None and s.media.mimetype == "image/png" for s in sent)
    assert sorted(s.text or "" for s in sent) == sorted(f"Halo Tamu {i}, promo hari ini!" for i in range(5))
    log = read_sent_log(sent_log_file(settings.auth_sessions_dir))
    assert [line["kind"] for line in log if line["session_id"] == "b1"] == ["image"] * 5


@pytest.mark.slow
@pytest.mark.parametrize("bridge_env", [UNPACED])
async def test_a_scheduled_message_outlives_a_restart_of_worker_and_bridge_and_goes_once_at_its_time(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    bridge = await start_bridge(settings)
    worker = await start_worker(settings)
    try:
        await add_session(db, "s1")
        await link_session(bridge, db, arq_redis, settings, "s1")
        send_at = utcnow() + timedelta(seconds=4)
        queued = await queue_message(db, arq_redis, settings, SendRequest(
            session_id="s1", to="6285799990003", text="pengingat jam 9", send_at=send_at))
    finally:
        await worker.stop()
        await bridge.stop()
    bridge = await start_bridge(settings)  # new processes as far as the gateway can tell: nothing in memory
    worker = await start_worker(settings)
    try:
        assert utcnow() < send_at, "the restart took longer than the schedule: the test proves nothing"
        async with db() as s:
            assert (await s.get(Message, queued.message.id)).status == MessageStatus.QUEUED  # type: ignore[union-attr]

        async def sent() -> bool:
            async with db() as s:
                message = await s.get(Message, queued.message.id)
            return message is not None and message.status in (
                MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)

        await until(sent, timeout=15, what="the scheduled message")
        await asyncio.sleep(1)  # room for a second copy to show up
    finally:
        await worker.stop()
        await bridge.stop()
    log = [line for line in read_sent_log(sent_log_file(settings.auth_sessions_dir)) if line["session_id"] == "s1"]
    assert [line["text"] for line in log] == ["pengingat jam 9"]
    assert float(str(log[0]["at"])) >= send_at.timestamp()
