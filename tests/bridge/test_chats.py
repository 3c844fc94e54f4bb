"""Chats kept by a real bridge on the simulator: made and counted as messages arrive (once for a message WhatsApp
delivers twice), under the phone-number JID of a chat addressed by LID, none counted with auto-read; chat state
changed on the phone written and told as `chat.updated`."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, until
from wagate.config import Settings
from wagate.db.models_chats import Chat
from wagate.db.models_whatsapp import Message
from wagate.transport.simulator.wire import lid_for

Db = async_sessionmaker[AsyncSession]
FROM = "6285611112222"
LID_FROM = "6285633334444"


async def chats(db: Db, session_id: str) -> dict[str, Chat]:
    async with db() as s:
        return {c.jid: c for c in await s.scalars(select(Chat).where(Chat.session_id == session_id))}


async def test_chats_count_what_arrives_once_under_the_phone_number(running: RunningBridge, db: Db,
                                                                   arq_redis: ArqRedis, settings: Settings) -> None:
    await add_session(db, "c1")
    await link_session(running, db, arq_redis, settings, "c1")
    first = await running.sim.inject_message("c1", FROM, "Halo", push_name="Budi")
    await running.sim.inject_message("c1", FROM, "Ada orang?", push_name="Budi")
    await running.sim.sink(first)  # WhatsApp delivers the first again: stored once, counted once
    await running.sim.inject_message("c1", LID_FROM, "lewat LID", via_lid=True)
    await running.sim.inject_message("c1", FROM, "rapat jam 3", is_group=True)

    async def all_there() -> bool:
        return sum(c.unread_count for c in (await chats(db, "c1")).values()) == 4
    await until(all_there, what="four unread")
    found = await chats(db, "c1")
    direct, by_lid = found[f"{FROM}@s.whatsapp.net"], found[f"{LID_FROM}@s.whatsapp.net"]
    [group] = [c for jid, c in found.items() if jid.endswith("@g.us")]
    assert (direct.unread_count, direct.name, by_lid.unread_count, by_lid.lid, group.unread_count, group.name) == (
        2, "Budi", 1, lid_for(LID_FROM), 1, None)
    async with db() as s:
        newest = await s.scalar(select(Message).where(Message.id == direct.last_message_id))
    assert newest is not None and newest.body == "Ada orang?"


async def test_auto_read_counts_nothing_and_the_phone_reads_and_archives(
    running: RunningBridge, db: Db, arq_redis: ArqRedis, settings: Settings, event_log: EventLog,
) -> None:
    await add_session(db, "c2", auto_read_enabled=True)
    await add_session(db, "c3")
    for sid in ("c2", "c3"):
        await link_session(running, db, arq_redis, settings, sid, phone="6281234567890" if sid == "c2"
                           else "6281234567891")
        await running.sim.inject_message(sid, LID_FROM, "Halo", via_lid=True)

    async def both() -> bool:
        return bool(await chats(db, "c2")) and bool(await chats(db, "c3"))
    await until(both, what="the chats")
    assert [c.unread_count for c in (await chats(db, "c2")).values()] == [0]  # read by auto-read at once

    # the owner reads and archives on the phone; WhatsApp names the chat by its LID
    await running.sim.change_chat_on_phone("c3", lid_for(LID_FROM), read=True, archived=True)

    def told(e: dict[str, Any]) -> bool:
        return bool(e["event"] == "chat.updated" and e["session"] == "c3")
    event = await event_log.wait_for(told)
    assert event["data"] == {"chat": f"{LID_FROM}@s.whatsapp.net", "chatLid": lid_for(LID_FROM), "unreadCount": 0,
                             "archived": True, "pinned": False, "mutedUntil": None}
    [chat] = (await chats(db, "c3")).values()
    assert (chat.jid, chat.unread_count, chat.archived) == (f"{LID_FROM}@s.whatsapp.net", 0, True)
    async with db() as s:
        read_at = await s.scalar(select(Message.read_at).where(Message.session_id == "c3"))
    assert read_at is not None
