"""Sending through the real bridge: status path and events, pacing, priority, schedules, retries, reruns, logout."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any, cast

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select
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
    wait_status,
)
from wagate.bridge.sender import Pacing, SessionSender, next_due_batch
from wagate.config import Settings
from wagate.db.enums import MessageStatus, Priority, SessionStatus
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.errors import TransportError
from wagate.queue.jobs import SEND_MESSAGE
from wagate.queue.names import bridge_queue, shard_of
from wagate.services.messaging.sending import SendRequest, queue_message, queue_messages
from wagate.transport.base import SendResult

GAP_S = 0.3  # SEND_GAP_MS of BRIDGE_ENV
TO = "6285712345678"
TO_JID = f"{TO}@s.whatsapp.net"


async def send(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, session_id: str,
               text: str, **fields: Any) -> int:
    queued = await queue_message(db, redis, settings, SendRequest(session_id=session_id, to=fields.pop("to", TO),
                                                                   text=text, **fields))
    assert queued.created and queued.enqueued
    return queued.message.id


async def test_a_text_goes_queued_sent_delivered_read(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "t1")
    await link_session(running, db, arq_redis, settings, "t1")
    queued = await queue_message(db, arq_redis, settings, SendRequest(session_id="t1", to=TO, text="Halo, apa kabar?"))
    assert queued.message.status == MessageStatus.QUEUED
    mid = queued.message.id

    row = await wait_message(db, mid, MessageStatus.READ)
    [sent] = [s for s in sent_by(running.sim, "t1") if s.text == "Halo, apa kabar?"]
    assert len(sent_by(running.sim, "t1")) == 1 and (sent.to, sent.kind) == (TO_JID, "text")
    assert row.wa_message_id == sent.message_id and row.attempts == 1 and row.error is None
    assert row.sent_at is not None and row.delivered_at is not None and row.read_at is not None
    assert row.sent_at <= row.delivered_at <= row.read_at
    assert row.failed_at is None

    await event_log.wait_for(lambda e: e["event"] == "message.read" and e["data"]["id"] == mid)
    mine = [e for e in event_log.items if e["event"].startswith("message.") and e["data"].get("id") == mid]
    assert [e["event"] for e in mine] == ["message.sent", "message.delivered", "message.read"]
    assert all(e["session"] == "t1" and e["data"]["messageId"] == sent.message_id for e in mine)
    assert [e["data"]["status"] for e in mine] == ["sent", "delivered", "read"]


async def test_one_session_keeps_the_gap_between_sends(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "p1")
    await link_session(running, db, arq_redis, settings, "p1")
    ids = [await send(db, arq_redis, settings, "p1", f"paced {n}") for n in range(10)]
    for mid in ids:
        await wait_message(db, mid, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    times = [s.at for s in sent_by(running.sim, "p1")]
    assert [s.text for s in sent_by(running.sim, "p1")] == [f"paced {n}" for n in range(10)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    print(f"gaps between 10 sends of one session: min {min(gaps):.3f} s, max {max(gaps):.3f} s")
    assert min(gaps) >= GAP_S - 0.002  # the two clocks (monotonic in the sender, wall in the simulator) may differ
    assert times[-1] - times[0] < 9 * GAP_S + 1.5  # paced, not stalled


@pytest.mark.parametrize("bridge_env", [{"SEND_GAP_MS": "1000"}])
async def test_sessions_send_in_parallel(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    sessions = [f"m{n}" for n in range(10)]
    for n, sid in enumerate(sessions):
        await add_session(db, sid)
        await link_session(running, db, arq_redis, settings, sid, phone=f"62811000000{n:02d}")
    # Two per session, all due at the same moment (queueing 20 rows one by one takes time of its own): each
    # session's second send waits one gap, so the lot takes about one gap; serialised sessions would need 19.
    due = utcnow() + timedelta(seconds=1.5)
    ids = [await send(db, arq_redis, settings, sid, f"{sid} #{k}", send_at=due) for k in range(2) for sid in sessions]
    for mid in ids:
        await wait_message(db, mid, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, timeout=20)
    span = max(s.at for s in running.sim.sent) - due.timestamp()
    print(f"20 sends on 10 sessions, all due at once, done {span:.3f} s after they were due (one gap is 1 s)")
    assert len(running.sim.sent) == 20
    assert span < 4.0  # serialised: at least 19 gaps (19 s); slack for a loaded 2-core machine
    for sid in sessions:
        first, second = sent_by(running.sim, sid)
        assert first.at >= due.timestamp() and second.at - first.at >= 1.0 - 0.002


@pytest.mark.parametrize("bridge_env", [{"SEND_GAP_MS": "100", "BULK_GAP_MS": "100"}])
async def test_a_normal_message_overtakes_a_bulk_backlog(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "ba")
    await add_session(db, "bb")
    await link_session(running, db, arq_redis, settings, "ba", phone="6281200000001")
    await link_session(running, db, arq_redis, settings, "bb", phone="6281200000002")
    for batch in range(2):  # 200 bulk rows, 100 per call (the send-to-many limit), all queued before the normal one
        recipients = [f"62813{batch}{n:07d}" for n in range(100)]
        queued = await queue_messages(db, arq_redis, settings, "ba", recipients, "promo", priority=Priority.BULK)
        assert all(q.created and q.enqueued for q in queued)

    async def backlog_started() -> bool:
        return len(sent_by(running.sim, "ba")) >= 3

    await until(backlog_started, what="the backlog to start")

    ahead = len(sent_by(running.sim, "ba"))
    normal_a = await send(db, arq_redis, settings, "ba", "urgent-ish on A")
    queued_b = time.time()
    normal_b = await send(db, arq_redis, settings, "bb", "normal on B")
    await wait_message(db, normal_a, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    await wait_message(db, normal_b, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)

    texts = [s.text for s in sent_by(running.sim, "ba")]
    position = texts.index("urgent-ish on A") - ahead  # 0: the very next send
    [on_b] = sent_by(running.sim, "bb")
    print(f"normal message on A sent {position + 1} send(s) after queueing; on B {on_b.at - queued_b:.3f} s")
    assert position <= 1
    assert on_b.at - queued_b < 0.5
    async with db() as session:
        left = await session.scalar(select(func.count()).select_from(Message).where(
            Message.session_id == "ba", Message.status == MessageStatus.QUEUED))
    assert left is not None and left > 150  # B did not wait for A's backlog


async def test_a_scheduled_message_waits_for_its_time(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "sa")
    await link_session(running, db, arq_redis, settings, "sa")
    send_at = utcnow() + timedelta(seconds=1.5)
    mid = await send(db, arq_redis, settings, "sa", "later", send_at=send_at)
    now_id = await send(db, arq_redis, settings, "sa", "now")
    await wait_message(db, now_id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    assert (await get_message(db, mid)).status == MessageStatus.QUEUED
    row = await wait_message(db, mid, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    [later] = [s for s in sent_by(running.sim, "sa") if s.text == "later"]
    print(f"scheduled message sent {later.at - send_at.timestamp():.3f} s after its send_at")
    assert send_at.timestamp() <= later.at < send_at.timestamp() + 1.0
    assert row.sent_at is not None and row.sent_at >= send_at


async def test_transient_failures_are_retried_then_fail_after_three_attempts(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "r2")
    await add_session(db, "r3")
    await link_session(running, db, arq_redis, settings, "r2", phone="6281300000002")
    await link_session(running, db, arq_redis, settings, "r3", phone="6281300000003")
    running.sim.set_send_failure("r2", TransportError("x"), times=2)
    running.sim.set_send_failure("r3", TransportError("x"), times=3)
    twice = await send(db, arq_redis, settings, "r2", "second time lucky")
    thrice = await send(db, arq_redis, settings, "r3", "never lucky")
    # Backoff 2 s then 8 s before the 2nd and 3rd attempts.
    ok = await wait_message(db, twice, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, timeout=20)
    bad = await wait_message(db, thrice, MessageStatus.FAILED, timeout=20)
    assert ok.attempts == 3 and ok.error is None
    assert [s.text for s in sent_by(running.sim, "r2")] == ["second time lucky"]
    assert bad.attempts == 3 and bad.error == "x" and bad.failed_at is not None
    assert sent_by(running.sim, "r3") == []
    failed = await event_log.wait_for(lambda e: e["event"] == "message.failed" and e["data"]["id"] == thrice)
    assert failed["data"]["error"] == "x"


async def test_a_retry_goes_out_under_the_id_of_the_first_attempt(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "ri")
    await link_session(running, db, arq_redis, settings, "ri")
    running.sim.set_send_failure("ri", TransportError("timed out"), times=1)
    mid = await send(db, arq_redis, settings, "ri", "under one id")

    async def failed_once() -> bool:
        row = await get_message(db, mid)
        return row.status == MessageStatus.QUEUED and row.attempts == 1

    await until(failed_once, what="the first attempt's failure")
    first = await get_message(db, mid)
    assert first.error == "timed out" and first.wa_message_id is not None
    assert re.fullmatch(r"3EB0[0-9A-F]{18}", first.wa_message_id)
    row = await wait_message(db, mid, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, timeout=10)
    [sent] = sent_by(running.sim, "ri")
    assert row.attempts == 2 and row.wa_message_id == sent.message_id == first.wa_message_id


async def test_a_send_whose_answer_was_lost_reaches_the_recipient_once(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_session(db, "al")
    await link_session(running, db, arq_redis, settings, "al")
    send_text = running.sim.send_text
    calls: list[str | None] = []

    async def accepted_but_unanswered(*args: Any, **kwargs: Any) -> SendResult:
        calls.append(kwargs.get("message_id"))
        result = await send_text(*args, **kwargs)
        if len(calls) == 1:
            raise TransportError("timed out waiting for the answer")  # WhatsApp has the message all the same
        return result

    monkeypatch.setattr(running.sim, "send_text", accepted_but_unanswered)
    mid = await send(db, arq_redis, settings, "al", "said once")
    row = await wait_message(db, mid, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, timeout=10)
    [sent] = sent_by(running.sim, "al")
    assert calls == [sent.message_id, sent.message_id] and row.wa_message_id == sent.message_id
    assert row.attempts == 2
    await event_log.wait_for(lambda e: e["event"] == "message.sent" and e["data"]["id"] == mid)


async def test_a_permanent_failure_fails_at_once(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "pf")
    await link_session(running, db, arq_redis, settings, "pf")
    running.sim.set_not_on_whatsapp("6285700000000")
    mid = await send(db, arq_redis, settings, "pf", "anyone there?", to="6285700000000")
    row = await wait_message(db, mid, MessageStatus.FAILED)
    assert row.attempts == 1 and row.error is not None and "not on WhatsApp" in row.error
    event = await event_log.wait_for(lambda e: e["event"] == "message.failed" and e["data"]["id"] == mid)
    assert "not on WhatsApp" in event["data"]["error"]
    assert sent_by(running.sim, "pf") == []


async def test_a_send_job_that_runs_again_sends_nothing(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "ij")
    await link_session(running, db, arq_redis, settings, "ij")
    mid = await send(db, arq_redis, settings, "ij", "only once")
    await wait_message(db, mid, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    # The same job again (a new job id: arq keeps the first one's result and would refuse its id).
    for n in range(2):
        job = await arq_redis.enqueue_job(SEND_MESSAGE, "ij", mid, _job_id=f"send:{mid}:again:{n}",
                                          _queue_name=bridge_queue(shard_of("ij", settings.bridge_shards)))
        assert job is not None
        assert await job.result(timeout=10) is True  # it did wake the sender
    # A later message goes through the same sender turn order: once it is out, the reruns have been handled.
    after = await send(db, arq_redis, settings, "ij", "after the reruns")
    await wait_message(db, after, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    assert [s.text for s in sent_by(running.sim, "ij")] == ["only once", "after the reruns"]
    assert (await get_message(db, mid)).attempts == 1


async def test_messages_of_a_session_the_phone_unlinks_fail(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "lo")
    await link_session(running, db, arq_redis, settings, "lo")
    first = await send(db, arq_redis, settings, "lo", "before the unlink")
    await wait_message(db, first, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    later = utcnow() + timedelta(minutes=5)
    stuck = [await send(db, arq_redis, settings, "lo", f"stuck {n}", send_at=later) for n in range(3)]
    await running.sim.unlink_from_phone("lo")
    row = await wait_status(db, "lo", SessionStatus.LOGGED_OUT)
    assert row.status_reason == "unlinked from the phone"
    for mid in stuck:
        message = await wait_message(db, mid, MessageStatus.FAILED)
        assert message.error is not None and message.error.startswith("session logged out")
    for mid in stuck:
        def failed(e: dict[str, Any], mid: int = mid) -> bool:
            return bool(e["event"] == "message.failed" and e["data"]["id"] == mid)

        await event_log.wait_for(failed)
    assert [s.text for s in sent_by(running.sim, "lo")] == ["before the unlink"]


async def test_two_bridges_that_read_a_message_before_either_marked_it_send_it_under_one_id(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    """A bridge frozen while its session moved wakes and sends before it learns the session is gone: both bridges
    read the row `queued`, and both send it. Under one WhatsApp message id the recipient keeps one; under two it
    would get the message twice."""
    await add_session(db, "twin", status=SessionStatus.WORKING)
    queued = await queue_message(db, arq_redis, settings, SendRequest(session_id="twin", to="6285700000009",
                                                                      text="once"))
    pacing = Pacing(normal_gap_s=0, bulk_gap_s=0, jitter_s=0, typing_s_per_char=0, typing_max_s=0)

    async def no_tenant() -> int | None:
        return None

    def sender() -> SessionSender:  # only its database write is raced here: no transport, no send
        return SessionSender("twin", db=db, redis=arq_redis, transport=cast(Any, None), pacing=pacing,
                             lock=asyncio.Lock(), tenant_id=no_tenant, media=cast(Any, None))

    woken, survivor = sender(), sender()
    read_by_woken = await next_due_batch(db, "twin", 1)
    read_by_survivor = await next_due_batch(db, "twin", 1)
    first = await survivor._mark_sending(read_by_survivor)
    second = await woken._mark_sending(read_by_woken)
    assert second == first == {queued.message.id: (await get_message(db, queued.message.id)).wa_message_id}
