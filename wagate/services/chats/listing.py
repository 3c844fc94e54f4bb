"""Reading chats: a session's chats, newest activity first, and a chat's messages, newest first, both paged by a
cursor (the last item's position), so a page stays right while new messages arrive."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_chats import Chat
from wagate.db.models_whatsapp import Contact, Message
from wagate.errors import Invalid, NotFound
from wagate.services.sessions import lifecycle

Db = async_sessionmaker[AsyncSession]
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class ChatEntry:
    chat: Chat
    name: str | None  # the chat's own name, else the contact's saved name, else their push name
    last_message: Message | None


@dataclass(frozen=True, slots=True)
class ChatPage:
    items: list[ChatEntry]
    next_cursor: str | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[Message]
    next_cursor: str | None


def _encode(at: datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        at, _, row_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
        return datetime.fromisoformat(at), int(row_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("Invalid cursor", {"cursor": ["expects the next_cursor of an earlier page"]}) from exc


async def list_chats(db: Db, session_id: str, *, tenant_id: int | None, archived: bool | None = None,
                     limit: int = 30, cursor: str | None = None) -> ChatPage:
    """The session's chats with messages, newest activity first; `archived` False hides archived ones, True shows
    only those. `NotFound` for another tenant's session."""
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    query = select(Chat).where(Chat.session_id == session_id, Chat.last_message_at.is_not(None))
    if archived is not None:
        query = query.where(Chat.archived.is_(archived))
    if cursor is not None:
        at, row_id = _decode(cursor)
        query = query.where(or_(Chat.last_message_at < at, and_(Chat.last_message_at == at, Chat.id < row_id)))
    async with db() as s:
        chats = list(await s.scalars(query.order_by(Chat.last_message_at.desc(), Chat.id.desc()).limit(limit + 1)))
        more = len(chats) > limit
        chats = chats[:limit]
        jids = [c.jid for c in chats]
        contacts = {c.jid: c for c in await s.scalars(
            select(Contact).where(Contact.session_id == session_id, Contact.jid.in_(jids)))} if jids else {}
        ids = [c.last_message_id for c in chats if c.last_message_id is not None]
        last = {m.id: m for m in await s.scalars(select(Message).where(Message.id.in_(ids)))} if ids else {}
    items = []
    for chat in chats:
        contact = contacts.get(chat.jid)
        name = chat.name if contact is None else (contact.name or chat.name or contact.push_name)
        items.append(ChatEntry(chat, name, last.get(chat.last_message_id or 0)))
    tail = chats[-1] if more else None
    return ChatPage(items, _encode(tail.last_message_at, tail.id) if tail and tail.last_message_at else None)


def chat_filter(session_id: str, chat: str) -> ColumnElement[bool]:
    """The messages of one conversation: stored under its phone-number JID, or the LID WhatsApp named it by."""
    return and_(Message.session_id == session_id, or_(Message.chat_jid == chat, Message.chat_lid == chat))


async def get_chat(db: Db, session_id: str, chat: str, *, tenant_id: int | None) -> Chat:
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    async with db() as s:
        row = await s.scalar(select(Chat).where(Chat.session_id == session_id,
                                                or_(Chat.jid == chat, Chat.lid == chat)).limit(1))
    if row is None:
        raise NotFound("Chat not found", {"chat": [f"{chat} has no messages in session {session_id}"]})
    return row


async def chat_messages(db: Db, session_id: str, chat: str, *, tenant_id: int | None, limit: int = 50,
                        cursor: str | None = None) -> MessagePage:
    """A chat's messages, newest first (by the order the gateway stored them)."""
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    query = select(Message).where(chat_filter(session_id, chat))
    if cursor is not None:
        _, before = _decode(cursor)
        query = query.where(Message.id < before)
    async with db() as s:
        rows = list(await s.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    tail = rows[-1] if more else None
    return MessagePage(rows, _encode(tail.created_at, tail.id) if tail else None)
