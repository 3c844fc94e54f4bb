"""Changing a chat through the session's connection: read receipts, archive, pin, mute, typing / recording, and
the session's own online presence. WhatsApp is asked first (a call to the session's bridge); only what it took is
written, audited and told as `chat.updated`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import Direction
from wagate.db.models_chats import Chat
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.errors import Invalid
from wagate.services import events
from wagate.services.chats import activity
from wagate.services.chats.listing import chat_filter
from wagate.services.messaging.phones import normalize_recipient
from wagate.services.operations import audit
from wagate.services.sessions import calls, lifecycle
from wagate.services.sessions.lifecycle import Actor

log = structlog.get_logger(__name__)
Db = async_sessionmaker[AsyncSession]

MAX_READ = 500  # receipts sent by one "mark read": WhatsApp takes them in one stanza per sender
PUBLISH_PATIENCE_S = 5.0  # a web request does not wait long for Redis: the change is written already


def chat_jid(chat: str, settings: Settings) -> str:
    """A phone number or JID as the chat's JID; `Invalid` naming `chat` otherwise. A device JID
    ("5491155553934.0:1@s.whatsapp.net", as wuzapi's clients write a chat) names the chat of its account."""
    user, at, server = chat.strip().partition("@")
    if at:
        chat = f"{user.split(':', 1)[0].split('.', 1)[0]}@{server}"
    return normalize_recipient(chat, settings.default_region, field="chat").jid


async def _unread(s: AsyncSession, session_id: str, jid: str, wa_ids: list[str] | None) -> list[Message]:
    query = select(Message).where(chat_filter(session_id, jid), Message.direction == Direction.INBOUND,
                                  Message.read_at.is_(None), Message.wa_message_id.is_not(None))
    if wa_ids is not None:
        query = query.where(Message.wa_message_id.in_(wa_ids))
    return list(await s.scalars(query.order_by(Message.id.desc()).limit(MAX_READ)))


async def mark_read(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, *,
                    tenant_id: int | None, actor: Actor, message_ids: list[str] | None = None) -> Chat:
    """Send read receipts for the chat's unread received messages (or only `message_ids`, WhatsApp ids) and clear
    their unread mark; the whole chat also clears the phone's badge."""
    owner = (await lifecycle.get_session(db, session_id, tenant_id=tenant_id)).tenant_id
    jid = chat_jid(chat, settings)
    async with db() as s:
        unread = await _unread(s, session_id, jid, message_ids)
    if message_ids is not None and not unread:
        raise Invalid("No unread message of this chat has these ids",
                      {"message_ids": ["expects WhatsApp ids of received messages not read yet"]})
    addressed = next((m.chat_lid for m in unread if m.chat_lid), None) or jid  # the chat as WhatsApp named it
    whole = message_ids is None
    await calls.call(db, redis, settings, session_id, "chat.read", {
        "chat": addressed, "whole_chat": whole,
        "messages": [{"id": m.wa_message_id, "sender": m.sender_jid or jid} for m in unread]})
    async with db() as s, s.begin():
        if whole:
            row = await activity.apply_state(s, session_id, jid, activity.StateChange(read=True))
        else:
            await s.execute(update(Message).where(Message.id.in_([m.id for m in unread])).values(read_at=utcnow()))
            row = await activity.apply_state(s, session_id, jid, activity.StateChange())
            row.unread_count = max(0, row.unread_count - len(unread))
        _audit(s, actor, "chat.read", session_id, jid, owner, {"receipts": len(unread)})
        data = activity.chat_data(row)
    await _tell(redis, owner, session_id, data)
    return row


async def change(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, *, tenant_id: int | None,
                 actor: Actor, archived: bool | None = None, pinned: bool | None = None, muted: bool | None = None,
                 muted_until: datetime | None = None) -> Chat:
    """Archive, pin or mute a chat (one at a time, as WhatsApp's app state takes them)."""
    owner = (await lifecycle.get_session(db, session_id, tenant_id=tenant_id)).tenant_id
    jid = chat_jid(chat, settings)
    if archived is not None:
        await calls.call(db, redis, settings, session_id, "chat.archive", {"chat": jid, "archived": archived})
        what = "chat.archive" if archived else "chat.unarchive"
    elif pinned is not None:
        await calls.call(db, redis, settings, session_id, "chat.pin", {"chat": jid, "pinned": pinned})
        what = "chat.pin" if pinned else "chat.unpin"
    elif muted is not None:
        if muted_until is not None and muted_until <= datetime.now(UTC):
            raise Invalid("Invalid mute", {"until": ["expects a time in the future"]})
        until = muted_until.timestamp() if muted and muted_until else None
        await calls.call(db, redis, settings, session_id, "chat.mute", {"chat": jid, "muted": muted, "until": until})
        what = "chat.mute" if muted else "chat.unmute"
    else:
        raise Invalid("Nothing to change", {"_schema": ["expects archived, pinned or muted"]})
    async with db() as s, s.begin():
        row = await activity.apply_state(s, session_id, jid, activity.StateChange(
            archived=archived, pinned=pinned, muted=muted, muted_until=muted_until))
        _audit(s, actor, what, session_id, jid, owner,
               {"until": muted_until.isoformat()} if muted and muted_until else None)
        data = activity.chat_data(row)
    await _tell(redis, owner, session_id, data)
    return row


async def chat_presence(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, state: str, *,
                        tenant_id: int | None) -> dict[str, Any]:
    """Show typing / recording in a chat, or stop (`paused`); WhatsApp clears it by itself after some seconds."""
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    answer: dict[str, Any] = await calls.call(db, redis, settings, session_id, "chat.presence",
                                              {"chat": chat_jid(chat, settings), "state": state})
    return answer


async def presence(db: Db, redis: ArqRedis, settings: Settings, session_id: str, available: bool, *,
                   tenant_id: int | None) -> dict[str, Any]:
    """The session's own presence: online (contacts see "online") or offline."""
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    answer: dict[str, Any] = await calls.call(db, redis, settings, session_id, "presence", {"available": available})
    return answer


def _audit(s: AsyncSession, actor: Actor, action: str, session_id: str, jid: str, tenant_id: int | None,
           details: dict[str, Any] | None) -> None:
    audit.record(s, actor_type=actor.type, actor_id=actor.id, ip=actor.ip, action=action, target_type="chat",
                 target_id=f"{session_id}/{jid}", tenant_id=tenant_id, details=details)


async def _tell(redis: ArqRedis, tenant_id: int | None, session_id: str, data: dict[str, Any]) -> None:
    await events.publish_durably(redis, tenant_id, events.envelope("chat.updated", session_id, data), log=log,
                                 what="chat.updated", patience_s=PUBLISH_PATIENCE_S, session_id=session_id)


async def read_receipts(db: Db, redis: ArqRedis, settings: Settings, session_id: str, chat: str, wa_ids: list[str],
                        sender: str | None, *, actor: Actor) -> Chat:
    """Read receipts for exactly these WhatsApp ids (wuzapi's chat/markread: stored here or not); the stored ones
    are marked read and leave the chat's unread count."""
    owner = (await lifecycle.get_session(db, session_id)).tenant_id
    jid = chat_jid(chat, settings)
    await calls.call(db, redis, settings, session_id, "chat.read", {
        "chat": jid, "whole_chat": False,
        "messages": [{"id": i, "sender": chat_jid(sender, settings) if sender else jid} for i in wa_ids]})
    async with db() as s, s.begin():
        result = await s.execute(update(Message).where(
            chat_filter(session_id, jid), Message.direction == Direction.INBOUND,
            Message.read_at.is_(None), Message.wa_message_id.in_(wa_ids)).values(read_at=utcnow()))
        row = await activity.apply_state(s, session_id, jid, activity.StateChange())
        row.unread_count = max(0, row.unread_count - int(result.rowcount))  # type: ignore[attr-defined]
        _audit(s, actor, "chat.read", session_id, jid, owner, {"receipts": len(wa_ids)})
        data = activity.chat_data(row)
    await _tell(redis, owner, session_id, data)
    return row
