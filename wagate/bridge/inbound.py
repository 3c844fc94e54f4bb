"""What WhatsApp tells the bridge about other people's messages: incoming messages and contact updates.

Incoming messages are stored once (WhatsApp may deliver one twice), with the sender's phone-number JID even
when WhatsApp addressed it by LID; auto-read and keyword auto-replies follow the session's settings.
Receipts of outgoing messages are `wagate.bridge.receipts`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge.received_shape import kind_shape, stored_content
from wagate.config import Settings
from wagate.db.enums import Direction, KeywordMatch, MessageStatus, MessageType, Priority, TenantStatus
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Contact, KeywordRule, Message, WaSession
from wagate.db.outage import UNREACHABLE, when_reachable
from wagate.db.types import utcnow
from wagate.errors import TransportError
from wagate.services import event_outbox, events
from wagate.services.chats import activity as chats
from wagate.services.media import links
from wagate.transport.base import STATUS_JID, ContactUpdated, MessageReceived, WhatsAppTransport

log = structlog.get_logger(__name__)

_KNOWN_TYPES = {t.value for t in MessageType}
STORE_PATIENCE_S = 600.0  # how long an incoming message the database refuses is retried before it is given up


@dataclass(frozen=True, slots=True)
class Stored:
    """A received message after storing: what auto-read and auto-replies need, and its pending event's row."""

    session: WaSession
    message: Message
    new: bool
    pending_event_id: int | None = None
    event: dict[str, Any] | None = None  # the envelope written with it, when new


def _phone_of(jid: str) -> str | None:
    user = jid.split("@", 1)[0].split(":", 1)[0]
    return user if jid.endswith("@s.whatsapp.net") and user.isdigit() else None


async def conversation_of(session: AsyncSession, event: MessageReceived) -> tuple[str, str | None]:
    """(chat JID, chat LID) of an incoming message: a direct chat WhatsApp addressed by LID is the other person's
    phone-number JID wherever it is known (the sender's, or a contact's with that LID), the LID kept beside it."""
    if not event.chat.endswith("@lid"):
        return event.chat, None
    phone = None if event.from_me else _phone_of(event.sender)
    if phone is None:  # sent from the session's own phone: the contact that has this LID, if any
        phone = await session.scalar(select(Contact.phone).where(
            Contact.session_id == event.session_id, Contact.lid == event.chat, Contact.phone.is_not(None)).limit(1))
    return (f"{phone}@s.whatsapp.net" if phone else event.chat), event.chat


def received_data(event: MessageReceived, message: Message, settings: Settings | None = None) -> dict[str, object]:
    """The `data` of a `message.received` event (and webhook): the WA-Gate v2 fields first, `chat` as stored, then
    what the message's kind carries (`wagate.bridge.received_shape`). A medium's `url` is a signed, expiring link to
    `GET /api/media/{id}` (the download handle never goes out)."""
    media = event.media
    data: dict[str, object] = {
        "from": event.sender,
        "message": event.text if event.text is not None else (media.caption if media else None),
        "messageId": event.message_id,
        "pushName": event.push_name,
        "type": event.type,
        "chat": message.chat_jid,
        "chatLid": message.chat_lid,
        "isGroup": event.is_group,
        "fromMe": event.from_me,
        "senderLid": event.sender_lid,
        "quotedMessageId": event.quoted_message_id,
        "timestamp": int(event.timestamp),
        **kind_shape(event),
    }
    shown = data.get("media")
    if settings is not None and isinstance(shown, dict):  # a signed, expiring link: the handle never goes out
        data["media"] = {**shown, "url": links.signed_url(settings, message.id)}
    return data


def message_row(event: MessageReceived, session_row: WaSession, chat: str, chat_lid: str | None, *,
                history: bool = False) -> Message:
    """The row of a received message (live, or old from the phone's history)."""
    media = event.media
    return Message(
        session_id=event.session_id, direction=Direction.INBOUND, wa_message_id=event.message_id,
        chat_jid=chat, chat_lid=chat_lid, sender_jid=event.sender, recipient=session_row.jid,
        type=MessageType(event.type) if event.type in _KNOWN_TYPES else MessageType.UNKNOWN,
        body=event.text, caption=media.caption if media else None,
        media_mime=media.mimetype if media else None, media_name=media.filename if media else None,
        media_source=media.download if media else None,
        reply_to=event.quoted_message_id, status=MessageStatus.DELIVERED,
        content=stored_content(event, history=history),
        delivered_at=datetime.fromtimestamp(event.timestamp, UTC) if event.timestamp else utcnow(),
    )


async def store_message(db: async_sessionmaker[AsyncSession], event: MessageReceived,
                        settings: Settings | None = None) -> Stored | None:
    async with db() as session, session.begin():
        row = await session.get(WaSession, event.session_id)
        if row is None:
            return None
        existing = await session.scalar(
            select(Message).where(Message.session_id == event.session_id, Message.direction == Direction.INBOUND,
                                  Message.wa_message_id == event.message_id)
        )
        if existing is not None:
            return Stored(row, existing, new=False)
        chat, chat_lid = await conversation_of(session, event)
        message = message_row(event, row, chat, chat_lid)
        session.add(message)
        row.messages_received += 1
        row.last_seen_at = utcnow()
        if not event.is_group and not event.from_me:
            await _remember_contact(session, event.session_id, event.sender, event.sender_lid, event.push_name)
        await session.flush()  # the message's id, which its event carries
        await chats.record(session, event.session_id, [chats.Activity(
            jid=chat, message_id=message.id, at=chats.activity_time(event.timestamp), lid=chat_lid,
            name=None if event.is_group or event.from_me else event.push_name,
            unread=0 if event.from_me or row.auto_read_enabled else 1)])  # auto-read reads it at once
        envelope = received_envelope(event, message, settings)
        pending = event_outbox.pending(row.tenant_id, envelope)
        session.add(pending)
        await session.flush()
    return Stored(row, message, new=True, pending_event_id=pending.id, event=envelope)


def received_envelope(event: MessageReceived, message: Message, settings: Settings | None = None) -> dict[str, Any]:
    return events.message_envelope("message.received", event.session_id, message.id,
                                   received_data(event, message, settings), timestamp=event.timestamp or time.time())


async def handle_received(db: async_sessionmaker[AsyncSession], redis: Redis, transport: WhatsAppTransport,
                          event: MessageReceived, settings: Settings | None = None) -> bool:
    """Store an incoming message, publish `message.received`, then auto-read and auto-reply; True if it replied.

    A database out of reach is waited for (STORE_PATIENCE_S), and so is Redis for the event: WhatsApp does not
    deliver the message again, so giving up would lose it or its webhook.
    """
    tries = 0

    async def store() -> Stored | None:
        nonlocal tries
        tries += 1
        return await store_message(db, event, settings)

    stored = await when_reachable(store, patience_s=STORE_PATIENCE_S, log=log, what="incoming message not stored",
                                  session_id=event.session_id, wa_message_id=event.message_id)
    if stored is None:
        return False
    # A message stored before (WhatsApp delivering it again, or an earlier try whose commit went through and only its
    # answer was lost) goes to the event stream again: its first event may never have gone out, and a copy has the
    # same id, so it makes no second webhook. Dashboards showed it already.
    again = not stored.new and tries == 1
    published = await events.publish_durably(
        redis, stored.session.tenant_id, stored.event or received_envelope(event, stored.message, settings), log=log,
        what="message.received", live=not again, session_id=event.session_id, message_id=stored.message.id)
    if published and stored.pending_event_id is not None:
        try:
            await event_outbox.forget(db, [stored.pending_event_id])
        except UNREACHABLE as exc:  # the sweep publishes it again, under the same id: no second webhook
            log.warning("published event not forgotten", session_id=event.session_id, error=type(exc).__name__)
    if again:
        return False  # read and answered the first time
    if event.from_me or event.chat == STATUS_JID:  # an auto-reply to a contact's status would post a status
        return False
    if stored.session.auto_read_enabled:
        try:
            await transport.mark_read(event.session_id, event.chat, event.sender, [event.message_id])
        except TransportError as exc:
            log.warning("auto-read failed", session_id=event.session_id, reason=exc.message)
    return await keyword_reply(db, stored) is not None


async def _remember_contact(session: AsyncSession, session_id: str, jid: str, lid: str | None,
                            push_name: str | None) -> None:
    contact = await session.scalar(select(Contact).where(Contact.session_id == session_id, Contact.jid == jid))
    if contact is None:
        session.add(Contact(session_id=session_id, jid=jid, lid=lid, phone=_phone_of(jid), push_name=push_name))
        return
    contact.lid = lid or contact.lid
    contact.push_name = push_name or contact.push_name
    contact.synced_at = utcnow()


async def update_contact(db: async_sessionmaker[AsyncSession], event: ContactUpdated) -> None:
    c = event.contact
    async with db() as session, session.begin():
        if await session.get(WaSession, event.session_id) is None:
            return
        contact = await session.scalar(select(Contact).where(Contact.session_id == event.session_id,
                                                             Contact.jid == c.jid))
        if contact is None:
            contact = Contact(session_id=event.session_id, jid=c.jid)
            session.add(contact)
        contact.phone = c.phone or contact.phone or _phone_of(c.jid)
        contact.name = c.name or contact.name
        contact.push_name = c.push_name or contact.push_name
        contact.business_name = c.business_name or contact.business_name
        contact.synced_at = utcnow()


async def _count_against_subscription(session: AsyncSession, tenant_id: int) -> bool:
    """An auto-reply is a message like any other: it needs a live subscription and counts toward its limit."""
    result = await session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id, Tenant.status == TenantStatus.ACTIVE,
               or_(Tenant.expires_at.is_(None), Tenant.expires_at > utcnow()),
               or_(Tenant.max_messages.is_(None), Tenant.messages_sent < Tenant.max_messages))
        .values(messages_sent=Tenant.messages_sent + 1)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _matches(rule: KeywordRule, text: str) -> bool:
    keyword, body = rule.keyword.strip().casefold(), text.strip().casefold()
    if rule.match_type == KeywordMatch.EXACT:
        return body == keyword
    if rule.match_type == KeywordMatch.PREFIX:
        return body.startswith(keyword)
    if rule.match_type == KeywordMatch.REGEX:
        try:
            return re.search(rule.keyword, text, re.IGNORECASE) is not None
        except re.error:
            return False
    return keyword in body


async def keyword_reply(db: async_sessionmaker[AsyncSession], stored: Stored) -> Message | None:
    """Queue the reply of the first matching active rule (session rules, then tenant, then global)."""
    text = stored.message.body
    if not text or stored.message.chat_jid is None:
        return None
    session_row = stored.session
    async with db() as session, session.begin():
        rules = list(await session.scalars(
            select(KeywordRule).where(
                KeywordRule.is_active.is_(True),
                or_(KeywordRule.session_id == session_row.id,
                    (KeywordRule.session_id.is_(None)) & (KeywordRule.tenant_id == session_row.tenant_id),
                    (KeywordRule.session_id.is_(None)) & (KeywordRule.tenant_id.is_(None))),
            ).order_by(KeywordRule.session_id.is_(None), KeywordRule.priority.desc(), KeywordRule.id)
        ))
        rule = next((r for r in rules if _matches(r, text)), None)
        if rule is None:
            return None
        if session_row.tenant_id is not None and not await _count_against_subscription(session, session_row.tenant_id):
            log.info("keyword auto-reply skipped: subscription expired or message limit reached",
                     session_id=session_row.id, rule_id=rule.id)
            return None
        reply = Message(
            session_id=session_row.id, direction=Direction.OUTBOUND, recipient=stored.message.chat_jid,
            type=MessageType.TEXT, body=rule.reply, reply_to=stored.message.wa_message_id,
            status=MessageStatus.QUEUED, priority=Priority.NORMAL,
            idempotency_key=f"auto-reply:{stored.message.wa_message_id}"[:191],
            content={"keywordRuleId": rule.id},
        )
        session.add(reply)
    log.info("keyword auto-reply queued", session_id=session_row.id, rule_id=rule.id)
    return reply
