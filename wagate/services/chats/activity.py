"""Keeping the `chats` rows up to date as messages come and go: written by the bridge inside the transaction
that stores the message, so a chat never shows a message that was not stored, nor misses one that was."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db.enums import Direction
from wagate.db.models_chats import Chat
from wagate.db.models_whatsapp import Contact, Message
from wagate.db.types import utcnow

# WhatsApp's "muted for ever" kept as a date no mute reaches (a mute ends at most a year ahead).
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
RECENT_S = 300.0  # a received message stamped this close to now arrived live


@dataclass(frozen=True, slots=True)
class Activity:
    """A message that is now part of a chat: the newest of it unless a newer one is there already."""

    jid: str
    message_id: int
    at: datetime
    lid: str | None = None
    name: str | None = None
    unread: int = 0  # 1 for a message received from someone else, 0 for one the session's side sent


def activity_time(sent_at: float) -> datetime:
    """When a received message counts as the chat's activity: now, unless WhatsApp stamped it long ago (history, a
    backlog after an outage). WhatsApp stamps whole seconds: a message and the answer sent within the same second
    would otherwise tie, and the newest chat would not surely come first."""
    now = utcnow()
    if not sent_at or abs(now.timestamp() - sent_at) < RECENT_S:
        return now
    return datetime.fromtimestamp(sent_at, UTC)


async def record(db: AsyncSession, session_id: str, activities: Sequence[Activity]) -> None:
    """Upsert the chats of `activities` in one statement (one row per chat, created on its first message)."""
    if not activities:
        return
    now = utcnow()
    rows = [{"session_id": session_id, "jid": a.jid, "lid": a.lid, "name": a.name, "last_message_id": a.message_id,
             "last_message_at": a.at, "unread_count": a.unread, "archived": False, "pinned": False,
             "updated_at": now} for a in activities]
    table = cast(Table, Chat.__table__)
    dialect = db.get_bind().dialect.name
    stmt: Any = (sqlite.insert(table) if dialect == "sqlite" else mysql.insert(table)).values(rows)
    new = stmt.excluded if dialect == "sqlite" else stmt.inserted
    c = table.c
    newer = (c.last_message_at.is_(None)) | (c.last_message_at <= new.last_message_at)
    # MySQL applies the assignments in order, each seeing the ones before: the id is chosen while
    # last_message_at still holds the old time, then the time moves.
    changes = {
        "last_message_id": case((newer, new.last_message_id), else_=c.last_message_id),
        "last_message_at": case((newer, new.last_message_at), else_=c.last_message_at),
        "unread_count": c.unread_count + new.unread_count,
        "lid": func.coalesce(new.lid, c.lid),
        "name": func.coalesce(new.name, c.name),
        "updated_at": new.updated_at,
    }
    if dialect == "sqlite":
        stmt = stmt.on_conflict_do_update(index_elements=["session_id", "jid"], set_=changes)
    else:
        stmt = stmt.on_duplicate_key_update(**changes)
    await db.execute(stmt)


@dataclass(frozen=True, slots=True)
class StateChange:
    """What changed in a chat's state; None: unchanged. `muted_until` None with `muted` True: muted for ever."""

    read: bool | None = None
    archived: bool | None = None
    pinned: bool | None = None
    muted: bool | None = None
    muted_until: datetime | None = None


async def resolve_jid(db: AsyncSession, session_id: str, jid: str) -> str:
    """The chat's identity as stored: a chat WhatsApp names by LID is the phone-number JID the gateway knows it by."""
    if not jid.endswith("@lid"):
        return jid
    found = await db.scalar(select(Chat.jid).where(Chat.session_id == session_id, Chat.lid == jid).limit(1))
    if found is None:
        found = await db.scalar(select(Contact.jid).where(Contact.session_id == session_id, Contact.lid == jid)
                                .limit(1))
    return found or jid


async def apply_state(db: AsyncSession, session_id: str, jid: str, change: StateChange) -> Chat:
    """Write a chat's new state (creating the row of a chat with no message yet); reading it clears its unread count
    and marks its received messages read."""
    chat = await db.scalar(select(Chat).where(Chat.session_id == session_id, Chat.jid == jid))
    if chat is None:
        chat = Chat(session_id=session_id, jid=jid, lid=None, unread_count=0, archived=False, pinned=False)
        db.add(chat)
    if change.read:
        chat.unread_count = 0
        await db.execute(update(Message).where(
            Message.session_id == session_id, Message.chat_jid == jid, Message.direction == Direction.INBOUND,
            Message.read_at.is_(None)).values(read_at=utcnow()))
    if change.archived is not None:
        chat.archived = change.archived
        if change.archived:
            chat.pinned = False  # WhatsApp unpins what it archives
    if change.pinned is not None:
        chat.pinned = change.pinned
    if change.muted is not None:
        chat.muted_until = (change.muted_until or FOREVER) if change.muted else None
    chat.updated_at = utcnow()
    await db.flush()
    return chat


def chat_data(chat: Chat) -> dict[str, Any]:
    """The `data` of a `chat.updated` event."""
    return {"chat": chat.jid, "chatLid": chat.lid, "unreadCount": chat.unread_count, "archived": chat.archived,
            "pinned": chat.pinned, "mutedUntil": muted_until_of(chat)}


def muted_until_of(chat: Chat) -> int | None:
    """Seconds since the epoch the chat is muted until; -1 for ever; None when it is not muted (or no longer)."""
    if chat.muted_until is None:
        return None
    if chat.muted_until >= FOREVER:
        return -1
    return int(chat.muted_until.timestamp()) if chat.muted_until > utcnow() else None
