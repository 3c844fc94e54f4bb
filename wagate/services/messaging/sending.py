"""Sending: validate a send, write its `queued` row (the outbox) in one transaction, then wake the bridge.

Every refusal happens before anything is written, and anything written before a failure is undone, so a refused
send leaves no row, no job and no new medium (one kept for it is discarded again unless something else uses it).
The row is committed
before the job is enqueued; when Redis is down the send still succeeds and the outbox sweep enqueues it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, Priority, SessionStatus, TenantStatus
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Contact, Message, WaSession
from wagate.db.types import utcnow
from wagate.errors import Conflict, Forbidden, Invalid, NotFound, OtherTenant
from wagate.queue.jobs import enqueue_send
from wagate.services.identity import subscription
from wagate.services.media.keeping import Kept, chunks_of, discard, keep
from wagate.services.media.store import media_stores
from wagate.services.messaging import kind_prep
from wagate.services.messaging.drafts import (  # noqa: F401 - the limits are part of this module's interface
    MAX_CAPTION_CHARS,
    MAX_TEXT_CHARS,
    MEDIA_TYPES,
    SEND_AT_GRACE,
    SEND_AT_HORIZON,
    Draft,
    SendRequest,
    checked_idempotency_key,
    derived_key,
    enum_value,
    validate,
    validate_many,
)
from wagate.services.messaging.outbox import SendJob, enqueue_sends

log = structlog.get_logger("wagate.messaging")

# Redis may hang rather than refuse; the row is committed by then, so waiting longer only delays the reply.
ENQUEUE_TIMEOUT_S = 3.0
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    message: Message
    created: bool  # False: an earlier send with the same idempotency key, returned as it is
    enqueued: bool  # False: no job was enqueued now (a replay, or Redis down: the outbox sweep will do it)


@dataclass(frozen=True, slots=True)
class MessageFilters:
    session_id: str | None = None
    status: MessageStatus | str | None = None
    direction: Direction | str | None = None
    chat: str | None = None  # a chat JID or a normalised recipient, matched against both
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until
    page: int = 1
    limit: int = 50


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[Message]
    total: int
    page: int
    limit: int


@dataclass(frozen=True, slots=True)
class Owner:
    session_id: str
    jid: str | None  # the session's own number: the sender of its outgoing messages
    tenant_id: int | None




async def queue_message(
    db_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
    request: SendRequest,
    *,
    tenant_id: int | None = None,
    content: dict[str, Any] | None = None,
) -> QueuedMessage:
    """Validate `request`, commit its `queued` row and enqueue its send job; see the module docstring. `content` is
    added to the row's type-specific content (a status's background and font)."""
    now = utcnow()
    async with db_factory() as db:
        session = await owned_session(db, request.session_id, tenant_id)
        # A retried request gets the original answer even if the session went down since: that is the point
        # of the key. Ownership is checked first so a key never reveals another tenant's message.
        key = checked_idempotency_key(request.idempotency_key)
        if key is not None and (existing := await _find_by_key(db, session.id, key)) is not None:
            return QueuedMessage(existing, created=False, enqueued=False)
        tenant = await sendable_tenant(db, session, now)
        # Plain values: a rollback expires the ORM objects, and an expired attribute would need a lazy load.
        owner = Owner(session.id, session.jid, tenant.id if tenant is not None else None)
        draft = validate(request, settings, now)
        if content:
            draft = dataclasses.replace(draft, content={**(draft.content or {}), **content})
        stored: Kept | None = None
        if request.needs_preparing:
            # Looked up, fetched and converted only once every field is valid; the medium is kept last, and
            # discarded again if the row is not committed.
            prepared = await kind_prep.prepare(db, settings, session, request, draft, tenant_id)
            draft = prepared.draft
            if prepared.media is not None and prepared.kind is not None:
                stored = await keep(db_factory, settings, media_stores(settings), chunks_of(prepared.media),
                                    file_name=prepared.file_name)
        try:
            if owner.tenant_id is not None:
                await count_messages(db, owner.tenant_id, 1, now)
            message = new_row(owner, draft, key, stored)
            db.add(message)
            await db.commit()
        except IntegrityError:
            await db.rollback()
            await discard(db_factory, media_stores(settings), stored)
            existing = await _find_by_key(db, owner.session_id, key) if key is not None else None
            if existing is None:
                raise
            return QueuedMessage(existing, created=False, enqueued=False)  # a concurrent twin committed first
        except BaseException:
            await db.rollback()  # before the discard: on SQLite this session may hold the one write lock
            await discard(db_factory, media_stores(settings), stored)
            raise
    enqueued = await wake_bridge(redis, settings, [message])
    return QueuedMessage(message, created=True, enqueued=enqueued)


async def queue_messages(
    db_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
    session_id: str,
    recipients: Sequence[str],
    text: str,
    *,
    priority: Priority | str = Priority.NORMAL,
    send_at: datetime | None = None,
    idempotency_key: str | None = None,
    tenant_id: int | None = None,
) -> list[QueuedMessage]:
    """One text to many recipients: all rows in one transaction (all or none), all jobs in one pipeline.

    Recipients are normalised and de-duplicated (the first spelling wins); the result follows that order.
    With an idempotency key, each recipient gets a key derived from it, so a retried request returns the
    rows it made before and adds only the missing ones.
    """
    now = utcnow()
    async with db_factory() as db:
        session = await owned_session(db, session_id, tenant_id)
        drafts = validate_many(session_id, recipients, text, priority, send_at, settings, now)
        base_key = checked_idempotency_key(idempotency_key)
        keys = {address: derived_key(base_key, address) if base_key else None for address in drafts}
        existing = await _find_by_keys(db, session.id, [k for k in keys.values() if k]) if base_key else {}
        if base_key and len(existing) == len(drafts):
            return [QueuedMessage(existing[keys[a] or ""], created=False, enqueued=False) for a in drafts]
        tenant = await sendable_tenant(db, session, now)
        owner = Owner(session.id, session.jid, tenant.id if tenant is not None else None)
        rows: dict[str, Message] = {}
        for attempt in range(2):  # a second pass only after losing an idempotency race to a concurrent twin
            new = [address for address in drafts if keys[address] not in existing]
            try:
                if owner.tenant_id is not None and new:
                    await count_messages(db, owner.tenant_id, len(new), now)
                rows = {address: new_row(owner, drafts[address], keys[address], None) for address in new}
                db.add_all(rows.values())
                await db.commit()
                break
            except IntegrityError:
                await db.rollback()
                if attempt or base_key is None:
                    raise
                existing = await _find_by_keys(db, owner.session_id, [k for k in keys.values() if k])
    enqueued = await wake_bridge(redis, settings, list(rows.values()))
    return [QueuedMessage(rows[a], created=True, enqueued=enqueued) if a in rows
            else QueuedMessage(existing[keys[a] or ""], created=False, enqueued=False)
            for a in drafts]


async def get_message(db: AsyncSession, message_id: int, tenant_id: int | None = None) -> Message:
    """One message; with `tenant_id`, only a message of one of that tenant's sessions (else `NotFound`)."""
    query = select(Message).where(Message.id == message_id)
    if tenant_id is not None:
        query = query.join(WaSession, WaSession.id == Message.session_id).where(WaSession.tenant_id == tenant_id)
    message = await db.scalar(query)
    if message is None:
        raise NotFound("Message not found")
    return message


def chat_matches(chat: str) -> Any:
    """The messages of one conversation however WhatsApp addressed it: by phone-number JID, by LID, or by a LID a
    contact of that number is known by (a message from the session's own phone to a chat it knew only by LID)."""
    known_lids = select(Contact.lid).where(Contact.jid == chat, Contact.lid.is_not(None))
    return or_(Message.chat_jid == chat, Message.recipient == chat, Message.chat_lid == chat,
               Message.chat_jid.in_(known_lids))


async def list_messages(db: AsyncSession, filters: MessageFilters, tenant_id: int | None = None) -> MessagePage:
    """A page of messages, newest first, and the total matching `filters`."""
    errors: dict[str, str] = {}
    if filters.page < 1:
        errors["page"] = "must be 1 or more"
    if not 1 <= filters.limit <= MAX_PAGE_SIZE:
        errors["limit"] = f"must be from 1 to {MAX_PAGE_SIZE}"
    status = enum_value(MessageStatus, filters.status, "status", errors)
    direction = enum_value(Direction, filters.direction, "direction", errors)
    for name in ("since", "until"):
        value = getattr(filters, name)
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            errors[name] = "must include a time zone"
    if errors:
        raise Invalid("Invalid filters", details=errors)

    conditions: list[Any] = []
    if tenant_id is not None:
        owned = select(WaSession.id).where(WaSession.tenant_id == tenant_id)
        conditions.append(Message.session_id.in_(owned))
    if filters.session_id is not None:
        conditions.append(Message.session_id == filters.session_id)
    if status is not None:
        conditions.append(Message.status == status)
    if direction is not None:
        conditions.append(Message.direction == direction)
    if filters.chat:
        conditions.append(chat_matches(filters.chat))
    if filters.since is not None:
        conditions.append(Message.created_at >= filters.since)
    if filters.until is not None:
        conditions.append(Message.created_at < filters.until)

    total = await db.scalar(select(func.count()).select_from(Message).where(*conditions)) or 0
    items = (await db.scalars(
        select(Message).where(*conditions).order_by(Message.created_at.desc(), Message.id.desc())
        .offset((filters.page - 1) * filters.limit).limit(filters.limit)
    )).all()
    return MessagePage(items=list(items), total=total, page=filters.page, limit=filters.limit)


async def owned_session(db: AsyncSession, session_id: str, tenant_id: int | None) -> WaSession:
    session = await db.get(WaSession, session_id) if isinstance(session_id, str) and session_id else None
    return check_owner(session, tenant_id)


def check_owner(session: WaSession | None, tenant_id: int | None) -> WaSession:
    """The session, if it exists and `tenant_id` (None: any) owns it."""
    if session is None:
        raise NotFound("Session not found")
    if tenant_id is not None and session.tenant_id != tenant_id:
        raise OtherTenant("Session not found", f"session {session.id!r} belongs to another tenant")
    return session


async def sendable_tenant(db: AsyncSession, session: WaSession, now: datetime) -> Tenant | None:
    """The session's tenant after the status and subscription checks (None for a session without one)."""
    # A linked session reconnecting (STARTING with its number known: a bridge restarting or taking over) queues the
    # send, which goes out once it is connected: refusing it would make every deploy of a bridge refuse sends.
    reconnecting = session.status == SessionStatus.STARTING and session.jid is not None
    if session.status != SessionStatus.WORKING and not reconnecting:
        raise Conflict(f"Session is {session.status}, not WORKING: it cannot send until it is connected",
                       details={"status": str(session.status)})
    if session.tenant_id is None:
        return None
    tenant = await db.get(Tenant, session.tenant_id)
    if tenant is None:
        raise NotFound("Tenant not found")
    _check_subscription(tenant.status, tenant.expires_at, now)
    return tenant


def _check_subscription(status: TenantStatus | str, expires_at: datetime | None, now: datetime) -> None:
    subscription.check(status, expires_at, now)


async def count_messages(db: AsyncSession, tenant_id: int, count: int, now: datetime) -> None:
    """Count `count` messages against the tenant's `max_messages`, atomically; `Forbidden` when it would pass it.

    One conditional UPDATE: the row lock (InnoDB) or the write lock (SQLite) makes concurrent sends take turns,
    so the limit holds exactly without a read-then-write race. The subscription is checked again in the same
    statement, in case it expired since the check before.
    """
    result = await db.execute(
        update(Tenant)
        .where(
            Tenant.id == tenant_id,
            or_(Tenant.max_messages.is_(None), Tenant.messages_sent + count <= Tenant.max_messages),
            Tenant.status == TenantStatus.ACTIVE,
            or_(Tenant.expires_at.is_(None), Tenant.expires_at > now),
        )
        .values(messages_sent=Tenant.messages_sent + count, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return
    row = (await db.execute(
        select(Tenant.status, Tenant.expires_at, Tenant.max_messages, Tenant.messages_sent)
        .where(Tenant.id == tenant_id)
    )).one()
    _check_subscription(row.status, row.expires_at, now)
    raise Forbidden(f"Message limit reached: {row.messages_sent} of {row.max_messages} messages used",
                    details={"max_messages": row.max_messages, "messages_sent": row.messages_sent})


async def _find_by_key(db: AsyncSession, session_id: str, key: str) -> Message | None:
    return await db.scalar(select(Message).where(Message.session_id == session_id, Message.idempotency_key == key))


async def _find_by_keys(db: AsyncSession, session_id: str, keys: list[str]) -> dict[str, Message]:
    rows = await db.scalars(select(Message).where(Message.session_id == session_id,
                                                  Message.idempotency_key.in_(keys)))
    return {row.idempotency_key: row for row in rows if row.idempotency_key is not None}


def new_row(owner: Owner, draft: Draft, key: str | None, stored: Kept | None) -> Message:
    return Message(**row_values(owner, draft, key, stored))


def row_values(owner: Owner, draft: Draft, key: str | None, stored: Kept | None) -> dict[str, Any]:
    """The column values of a new outgoing `queued` row."""
    return dict(
        session_id=owner.session_id,
        direction=Direction.OUTBOUND,
        chat_jid=draft.recipient.jid,
        sender_jid=owner.jid,
        recipient=draft.recipient.address,
        type=draft.type,
        body=draft.body,
        caption=draft.caption,
        media_id=stored.medium_id if stored else None,
        media_mime=stored.kind.mimetype if stored else None,
        media_name=stored.file_name if stored else None,
        content=draft.content,
        reply_to=draft.reply_to,
        status=MessageStatus.QUEUED,
        priority=draft.priority,
        send_at=draft.send_at,
        idempotency_key=key,
        wa_message_id=draft.message_id,
    )


def _paced_wake(message: Message, n: int, settings: Settings, now: datetime) -> datetime | None:
    """When the job of the `n`th row of one session's batch should run: about when the sender gets to it.

    The sender reads every due row itself, so only the first job of a batch has to wake it now. Jobs all due
    at once sit in the shard's one job queue ahead of other sessions' jobs (arq takes 2-4 ms per job), so a
    normal send on another session would wait for the whole batch to drain.
    Spread at the session's gap, they arrive about when their rows are sent.
    """
    if message.send_at is not None and message.send_at > now:
        return message.send_at
    if n == 0:
        return None
    gap_ms = settings.bulk_gap_ms if message.priority == Priority.BULK else settings.send_gap_ms
    return now + timedelta(milliseconds=n * gap_ms)


async def wake_bridge(redis: ArqRedis, settings: Settings, messages: list[Message]) -> bool:
    """Enqueue the send jobs of committed rows; False (logged) when Redis fails: the outbox sweep covers it."""
    if not messages:
        return False
    now = utcnow()
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_S):
            if len(messages) == 1:
                m = messages[0]
                await enqueue_send(redis, settings.bridge_shards, m.session_id or "", m.id,
                                   defer_until=m.send_at if m.send_at and m.send_at > now else None)
            else:
                # Positions count per session: the rows of one call may belong to several sessions.
                position: Counter[str] = Counter()
                jobs: list[SendJob] = []
                for m in messages:
                    n = position[m.session_id or ""]
                    position[m.session_id or ""] += 1
                    job = SendJob(m.session_id or "", m.id, _paced_wake(m, n, settings, now))
                    # A row due now behind its session's first (no gap: pacing off) needs no job of its own: the
                    # first job's wake-up sends every due row. The outbox sweep still covers them all.
                    if n == 0 or job.defer_until is None or job.defer_until > now:
                        jobs.append(job)
                await enqueue_sends(redis, settings.bridge_shards, jobs)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("send job not enqueued; the outbox sweep will enqueue it", message_ids=[m.id for m in messages],
                    error=f"{type(exc).__name__}: {exc}")
        return False
    return True
