"""Calls to a session's number through a real bridge: events always, and the session's policy to reject them and
answer the caller with a message that goes out through the send queue."""

from __future__ import annotations

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, sent_by, until, wait_message
from wagate.config import Settings
from wagate.db.enums import ActorType, Direction, MessageStatus
from wagate.db.models_whatsapp import Message
from wagate.services.sessions import call_policy
from wagate.services.sessions.lifecycle import Actor

ADMIN = Actor(ActorType.SYSTEM, "test")


async def test_a_call_rings_unanswered_by_default_and_both_ends_are_told(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
    event_log: EventLog,
) -> None:
    await add_session(db, "s1")
    await link_session(running, db, arq_redis, settings, "s1")
    offer = await running.sim.ring("s1", "6285700000001", video=True)
    received = await event_log.wait_for(lambda e: e["event"] == "call.received")
    assert received["session"] == "s1"
    assert received["data"] | {"fromLid": None} == {
        "callId": offer.call_id, "from": "6285700000001@s.whatsapp.net", "fromLid": None, "video": True,
        "group": False, "rejected": False}
    await running.sim.hang_up("s1", offer, reason="timeout")
    ended = await event_log.wait_for(lambda e: e["event"] == "call.ended")
    assert ended["data"] == {"callId": offer.call_id, "from": "6285700000001@s.whatsapp.net", "reason": "timeout"}
    assert running.sim.rejected_calls == []


async def test_the_policy_rejects_calls_and_answers_the_caller_once_through_the_send_queue(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
    event_log: EventLog,
) -> None:
    await add_session(db, "s1")
    await call_policy.set_policy(db, "s1", {"reject_calls": True, "reject_call_message": "Maaf, kami tidak bisa "
                                            "menerima telepon. Silakan kirim pesan."}, tenant_id=None, actor=ADMIN)
    await link_session(running, db, arq_redis, settings, "s1")
    offer = await running.sim.ring("s1", "6285700000002")
    received = await event_log.wait_for(lambda e: e["event"] == "call.received")
    assert received["data"]["rejected"] is True
    assert running.sim.rejected_calls == [("s1", "6285700000002@s.whatsapp.net", offer.call_id)]
    ended = await event_log.wait_for(lambda e: e["event"] == "call.ended")
    assert ended["data"]["reason"] == "rejected"

    await until(lambda: _has_sent(running), what="the reply sent")
    [reply] = sent_by(running.sim, "s1")
    assert reply.to == "6285700000002@s.whatsapp.net" and reply.text is not None and reply.text.startswith("Maaf")
    async with db() as s:
        rows = list(await s.scalars(select(Message).where(Message.direction == Direction.OUTBOUND)))
    assert [(r.recipient, r.content) for r in rows] == [("6285700000002@s.whatsapp.net", {"callId": offer.call_id})]
    await wait_message(db, rows[0].id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)

    # The same offer handled again (an event delivered twice) queues no second reply.
    await running.bridge.on_event(offer)
    async with db() as s:
        assert len(list(await s.scalars(select(Message.id).where(Message.direction == Direction.OUTBOUND)))) == 1


async def _has_sent(running: RunningBridge) -> bool:
    return bool(sent_by(running.sim, "s1"))
