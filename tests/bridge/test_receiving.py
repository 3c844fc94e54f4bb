"""Receiving through the real bridge: stored once with the phone JID (LID too), auto-read, typing, keyword replies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import (
    EventLog,
    RunningBridge,
    add_session,
    link_session,
    sent_by,
    until,
    wait_message,
)
from wagate.config import Settings
from wagate.db.enums import Direction, KeywordMatch, MessageStatus
from wagate.db.models_whatsapp import KeywordRule, Message
from wagate.services.events import EVENT_STREAM
from wagate.services.messaging.sending import MessageFilters, SendRequest, list_messages, queue_message
from wagate.transport.base import MessageReceived
from wagate.transport.simulator.wire import lid_for

FROM = "6285611112222"
FROM_JID = f"{FROM}@s.whatsapp.net"
LID_FROM = "6285633334444"


async def inbound(db: async_sessionmaker[AsyncSession], session_id: str) -> list[Message]:
    async with db() as session:
        return list(await session.scalars(select(Message).where(
            Message.session_id == session_id, Message.direction == Direction.INBOUND).order_by(Message.id)))


async def test_received_messages_are_stored_once_with_the_phone_jid(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "in1", auto_read_enabled=True)
    await link_session(running, db, arq_redis, settings, "in1")
    plain = await running.sim.inject_message("in1", FROM, "Halo dari HP", push_name="Budi")
    by_lid = await running.sim.inject_message("in1", LID_FROM, "Halo lewat LID", via_lid=True)
    assert by_lid.chat == lid_for(LID_FROM)
    await running.sim.sink(plain)  # WhatsApp delivers the same message (same id) again

    async def two_stored() -> bool:
        return len(await inbound(db, "in1")) == 2

    await until(two_stored, what="two inbound rows")
    for event in (plain, by_lid):
        def announced(e: dict[str, Any], event: MessageReceived = event) -> bool:
            return bool(e["event"] == "message.received" and e["data"]["messageId"] == event.message_id)

        await event_log.wait_for(announced)
    rows = await inbound(db, "in1")
    assert [(r.wa_message_id, r.sender_jid, r.body) for r in rows] == [
        (plain.message_id, FROM_JID, "Halo dari HP"),
        (by_lid.message_id, f"{LID_FROM}@s.whatsapp.net", "Halo lewat LID"),
    ]
    # One conversation, one identity: the phone-number JID, the LID WhatsApp used kept beside it.
    assert (rows[1].chat_jid, rows[1].chat_lid) == (f"{LID_FROM}@s.whatsapp.net", lid_for(LID_FROM))
    assert (rows[0].chat_jid, rows[0].chat_lid) == (FROM_JID, None)
    assert rows[1].content is not None and rows[1].content["senderLid"] == lid_for(LID_FROM)
    async with db() as session:  # a filter by the number finds it, and so does one by the LID
        for chat in (f"{LID_FROM}@s.whatsapp.net", lid_for(LID_FROM)):
            page = await list_messages(session, MessageFilters(chat=chat))
            assert [m.wa_message_id for m in page.items] == [by_lid.message_id], chat

    received = [e for e in event_log.items if e["event"] == "message.received" and e["session"] == "in1"]
    assert [e["data"]["messageId"] for e in received] == [plain.message_id, by_lid.message_id]  # the rerun: none
    # The rerun goes to the event stream once more (its first event may have been lost), under the same id.
    streamed: list[str] = []

    async def three_streamed() -> bool:
        nonlocal streamed
        entries = [json.loads(fields[b"event"]) for _, fields in await arq_redis.xrange(EVENT_STREAM)]
        streamed = [e["id"] for e in entries if e["event"] == "message.received" and e["session"] == "in1"]
        return len(streamed) >= 3

    await until(three_streamed, what="three message.received in the stream")
    assert streamed == [received[0]["id"], received[1]["id"], received[0]["id"]]
    assert received[0]["data"]["from"] == FROM_JID and received[0]["data"]["senderLid"] is None
    assert received[0]["data"]["pushName"] == "Budi" and received[0]["data"]["message"] == "Halo dari HP"
    assert received[1]["data"]["from"] == f"{LID_FROM}@s.whatsapp.net"
    assert (received[1]["data"]["chat"], received[1]["data"]["chatLid"]) == (
        f"{LID_FROM}@s.whatsapp.net", lid_for(LID_FROM))
    assert received[1]["data"]["senderLid"] == lid_for(LID_FROM)

    async def both_read() -> bool:
        marked = {m for r in running.sim.read_marks if r.session_id == "in1" for m in r.message_ids}
        return marked == {plain.message_id, by_lid.message_id}

    await until(both_read, what="auto-read marks")
    assert len([r for r in running.sim.read_marks if r.session_id == "in1"]) == 2  # the duplicate: not marked again


async def test_without_auto_read_nothing_is_marked_read(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "in2", auto_read_enabled=False)
    await link_session(running, db, arq_redis, settings, "in2")
    event = await running.sim.inject_message("in2", FROM, "jangan dibaca")
    await event_log.wait_for(lambda e: e["event"] == "message.received" and e["data"]["messageId"] == event.message_id)
    assert [r for r in running.sim.read_marks if r.session_id == "in2"] == []


@pytest.mark.parametrize("bridge_env", [{"TYPING_MS_PER_CHAR": "5"}])
async def test_typing_is_shown_before_a_send(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "ty", typing_enabled=True)
    await link_session(running, db, arq_redis, settings, "ty")
    queued = await queue_message(db, arq_redis, settings, SendRequest(session_id="ty", to=FROM, text="sebentar ya"))
    await wait_message(db, queued.message.id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    [sent] = sent_by(running.sim, "ty")
    typing = [t for t in running.sim.typing if t.session_id == "ty"]
    assert [(t.chat, t.typing) for t in typing] == [(FROM_JID, True), (FROM_JID, False)]
    assert typing[0].seq < typing[1].seq < sent.seq


async def test_a_keyword_rule_answers_through_the_send_queue(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "kw")
    await link_session(running, db, arq_redis, settings, "kw")
    async with db() as session, session.begin():
        session.add_all([
            KeywordRule(session_id="kw", keyword="pinjam ruang", reply="Silakan isi formulir peminjaman ruang.",
                        match_type=KeywordMatch.CONTAINS),
            KeywordRule(session_id="kw", keyword="jadwal", reply="(inactive)", is_active=False),
        ])
    # In arrival order: an inactive rule's keyword, a text no rule matches, then the matching one.
    await running.sim.inject_message("kw", FROM, "Jadwal minggu ini?")
    await running.sim.inject_message("kw", FROM, "Terima kasih")
    asking = await running.sim.inject_message("kw", LID_FROM, "Boleh PINJAM RUANG rapat besok?", via_lid=True)

    async def replied() -> bool:
        return len(sent_by(running.sim, "kw")) >= 1

    await until(replied, what="the auto-reply")
    async with db() as session:
        replies = list(await session.scalars(select(Message).where(
            Message.session_id == "kw", Message.direction == Direction.OUTBOUND)))
    [reply] = replies  # one row: the earlier texts queued nothing (a reply of theirs would have gone out first)
    [sent] = sent_by(running.sim, "kw")
    # The reply goes to the asker's number, though WhatsApp addressed the question by LID.
    assert (sent.to, sent.text, sent.reply_to) == (asking.sender, "Silakan isi formulir peminjaman ruang.",
                                                   asking.message_id)
    assert reply.content is not None and reply.content["keywordRuleId"] is not None
    assert reply.idempotency_key == f"auto-reply:{asking.message_id}"
    await wait_message(db, reply.id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
