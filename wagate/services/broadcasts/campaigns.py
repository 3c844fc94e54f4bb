"""Broadcasts seen from the API: preview, create (start now or schedule), read with progress, pause, resume, cancel.

Creating writes the broadcast and all its recipients in one transaction and nothing else: the worker turns
recipients into `bulk` messages a chunk at a time (`wagate.services.broadcasts.progress`). Every refusal
(template, recipients, session, subscription, message limit) happens before anything is written.

Pause holds the broadcast's queued messages back by moving their `send_at` to `HOLD` (the bridge sender only
takes rows that are due, and the outbox sweep only rows that are due), so pausing needs no change to the
sender; resume clears that `send_at` and wakes the sender. At most the one message a sender had already
picked when the pause committed still goes out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy import String, case, func, insert, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import (
    BroadcastStatus,
    MessageStatus,
    MessageType,
    RecipientStatus,
    SessionStatus,
)
from wagate.db.models_delivery import Broadcast, BroadcastRecipient
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.errors import Conflict, Forbidden, Invalid, NotFound, OtherTenant
from wagate.queue.jobs import enqueue_broadcast_expand
from wagate.services.broadcasts import kinds as broadcast_kinds
from wagate.services.broadcasts.progress import Progress, progress_of
from wagate.services.broadcasts.recipients import RecipientList, RecipientRow, Template, parse_template
from wagate.services.identity import subscription
from wagate.services.media.keeping import Kept, chunks_of, discard, keep
from wagate.services.media.store import media_stores
from wagate.services.messaging import media as media_files
from wagate.services.messaging.outbox import SendJob, enqueue_sends
from wagate.services.messaging.sending import MAX_CAPTION_CHARS, MAX_TEXT_CHARS, SEND_AT_GRACE, SEND_AT_HORIZON
from wagate.services.operations import audit
from wagate.services.sessions.lifecycle import Actor

log = structlog.get_logger("wagate.broadcasts")

MAX_RECIPIENTS = 100_000  # default size limit; callers pass their own `max_recipients`
INSERT_CHUNK = 2_000  # recipients per executemany
MAX_NAME = 191  # broadcasts.name
MAX_PAGE_SIZE = 100
PREVIEW_SIZE = 5
# A held message's send_at: far enough that nothing takes it, within what MySQL DATETIME stores.
HOLD = datetime(9999, 1, 1, tzinfo=UTC)
MEDIA_TYPES = (MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT)
ENQUEUE_TIMEOUT_S = 3.0
_ACTIVE = (BroadcastStatus.RUNNING, BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED, BroadcastStatus.DRAFT)


@dataclass(frozen=True, slots=True)
class BroadcastRequest:
    """A broadcast to create or preview, as plain data; `recipients` is already parsed (JSON list or CSV)."""

    session_id: str
    name: str
    template: str
    recipients: RecipientList
    media: bytes | None = None
    media_type: MessageType | str | None = None  # image, video, audio or document; required with media
    file_name: str | None = None
    start_at: datetime | None = None
    kind: str | None = None  # any message kind but those of one chat (`broadcasts.kinds`); None: text or the medium
    fields: dict[str, Any] = field(default_factory=dict)  # the kind's fields: contacts, question, options …


@dataclass(frozen=True, slots=True)
class Preview:
    total: int  # usable recipients after removing invalid rows and duplicates
    samples: list[dict[str, Any]]  # the first rendered messages
    invalid: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    blank_lines: list[int]  # CSV lines skipped for holding no value
    variables: list[str]


@dataclass(frozen=True, slots=True)
class BroadcastView:
    broadcast: Broadcast
    progress: Progress


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Any]
    total: int
    page: int
    limit: int


def preview_broadcast(request: BroadcastRequest, *, max_recipients: int = MAX_RECIPIENTS,
                      size: int = PREVIEW_SIZE) -> Preview:
    """What a broadcast would send, without touching the database: the same checks as creating it."""
    template = _check(request, utcnow(), max_recipients)
    samples = [{"line": row.line, "phone": row.phone, "name": row.name, "text": template.render(row.values())}
               for row in request.recipients.rows[:size]]
    return _preview(request.recipients, template, samples)


async def create_broadcast(
    db_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
    request: BroadcastRequest,
    *,
    tenant_id: int | None,
    actor: Actor,
    max_recipients: int = MAX_RECIPIENTS,
) -> tuple[Broadcast, Preview]:
    """Validate, write the broadcast (running, or scheduled when `start_at` is ahead) and start its expansion."""
    now = utcnow()
    template = _check(request, now, max_recipients)
    chosen = await broadcast_kinds.prepare(request.kind, request.template, request.recipients.rows[0].phone,
                                           request.media, request.file_name, request.fields, settings, now) \
        if request.kind else None
    media = chosen.media if chosen is not None else request.media
    media_type = MessageType(request.media_type) if request.media and request.media_type else None
    kind = chosen.media_kind if chosen is not None else media_files.check_upload(
        request.media, request.file_name, media_type, settings) if request.media and media_type else None
    starts_now = request.start_at is None or request.start_at <= now
    count = len(request.recipients.rows)
    async with db_factory() as db:
        session = await owned_session(db, request.session_id, tenant_id)
        if starts_now and session.status != SessionStatus.WORKING:
            raise Conflict(f"Session is {session.status}, not WORKING: connect it first or schedule the broadcast",
                           details={"status": str(session.status)})
        owner = session.tenant_id
        if owner is not None:
            await _check_allowance(db, owner, count, now)
        # One copy however many recipients: every message of the broadcast points at the same medium.
        stored = await keep(db_factory, settings, media_stores(settings), chunks_of(media),
                            file_name=request.file_name) if media and kind else None
        try:
            broadcast = await _write(db, request, template, owner, session, stored, chosen, starts_now, now, count,
                                     actor)
        except BaseException:
            await db.rollback()  # before the discard: on SQLite this session may hold the one write lock
            await discard(db_factory, media_stores(settings), stored)
            raise
    if starts_now:
        await _wake_expansion(redis, broadcast.id, 0)
    log.info("broadcast created", broadcast_id=broadcast.id, session_id=broadcast.session_id, recipients=count,
             status=str(broadcast.status))
    return broadcast, _preview(request.recipients, template, [])


async def _write(db: AsyncSession, request: BroadcastRequest, template: Template, owner: int | None,
                 session: WaSession, stored: Kept | None, chosen: broadcast_kinds.BroadcastKind | None,
                 starts_now: bool, now: datetime, count: int, actor: Actor) -> Broadcast:
    """The broadcast's row, its recipients and its audit entry, committed."""
    broadcast = Broadcast(
        tenant_id=owner, session_id=session.id, name=request.name.strip(), template=template.text,
        media_id=stored.medium_id if stored else None, media_mime=stored.kind.mimetype if stored else None,
        media_name=stored.file_name if stored else None,
        message_type=chosen.row_type.value if chosen else None, content=chosen.content if chosen else None,
        status=BroadcastStatus.RUNNING if starts_now else BroadcastStatus.SCHEDULED,
        start_at=request.start_at or now, created_by=_who(actor), total_count=count, pending_count=count,
    )
    db.add(broadcast)
    await db.flush()
    await _insert_recipients(db, broadcast.id, request.recipients.rows)
    audit.record(db, actor_type=actor.type, actor_id=actor.id, ip=actor.ip, action="broadcast.create",
                 target_type="broadcast", target_id=broadcast.id, tenant_id=owner, details={
                     "name": broadcast.name, "session_id": session.id, "recipients": count,
                     "invalid": len(request.recipients.invalid),
                     "start_at": (request.start_at or now).isoformat(),
                     "media": stored.kind.mimetype if stored else None})
    await db.commit()
    return broadcast


async def _insert_recipients(db: AsyncSession, broadcast_id: int, rows: Sequence[RecipientRow]) -> None:
    """Core executemany in chunks: the ORM's bulk path costs twice the time, and one statement for 100,000 rows
    holds every row's parameters, processed and unprocessed, in memory at once."""
    table = BroadcastRecipient.metadata.tables[BroadcastRecipient.__tablename__]
    for first in range(0, len(rows), INSERT_CHUNK):
        await db.execute(insert(table), [
            {"broadcast_id": broadcast_id, "position": position, "phone": row.phone, "name": row.name,
             "variables": row.variables or None, "status": RecipientStatus.PENDING}
            for position, row in enumerate(rows[first:first + INSERT_CHUNK], start=first)])


async def get_broadcast(db: AsyncSession, broadcast_id: int, tenant_id: int | None) -> BroadcastView:
    """One broadcast and its progress counted now from its recipients and their messages."""
    broadcast = await owned_broadcast(db, broadcast_id, tenant_id)
    return BroadcastView(broadcast, await progress_of(db, broadcast.id))


async def list_broadcasts(db: AsyncSession, tenant_id: int | None, *, status: str | None = None,
                          page: int = 1, limit: int = 20) -> Page:
    """Newest first; counters as the worker last stored them (at most a few seconds old while running)."""
    _page_args(page, limit)
    conditions: list[Any] = []
    if tenant_id is not None:
        conditions.append(Broadcast.tenant_id == tenant_id)
    if status is not None:
        conditions.append(Broadcast.status == _enum(BroadcastStatus, status))
    total = await db.scalar(select(func.count()).select_from(Broadcast).where(*conditions)) or 0
    items = (await db.scalars(select(Broadcast).where(*conditions)
                              .order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
                              .offset((page - 1) * limit).limit(limit))).all()
    return Page(list(items), total, page, limit)


async def list_recipients(db: AsyncSession, broadcast_id: int, tenant_id: int | None, *, status: str | None = None,
                          page: int = 1, limit: int = 50) -> Page:
    """A page of recipients in list order, each with the live status of its message (`RecipientPage.items`)."""
    _page_args(page, limit)
    await owned_broadcast(db, broadcast_id, tenant_id)
    effective = _effective_status()
    conditions: list[Any] = [BroadcastRecipient.broadcast_id == broadcast_id]
    if status is not None:
        conditions.append(effective == _enum(RecipientStatus, status).value)
    base = select(BroadcastRecipient).outerjoin(Message, Message.id == BroadcastRecipient.message_id).where(*conditions)
    total = await db.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = (await db.execute(
        base.add_columns(effective.label("effective"), Message.error, Message.sent_at)
        .order_by(BroadcastRecipient.position).offset((page - 1) * limit).limit(limit))).all()
    items = [{"position": r.position, "phone": r.phone, "name": r.name, "variables": r.variables or {},
              "status": effective_value, "message_id": r.message_id, "error": error or r.error,
              "sent_at": sent_at.isoformat() if sent_at else None}
             for r, effective_value, error, sent_at in rows]
    return Page(items, total, page, limit)


async def pause_broadcast(db_factory: async_sessionmaker[AsyncSession], broadcast_id: int, tenant_id: int | None,
                          actor: Actor) -> Broadcast:
    """Stop expanding and hold the queued messages; a message already being sent still goes out."""
    now = utcnow()
    async with db_factory() as db, db.begin():
        broadcast = await owned_broadcast(db, broadcast_id, tenant_id)
        await _transition(db, broadcast, (BroadcastStatus.RUNNING, BroadcastStatus.SCHEDULED), BroadcastStatus.PAUSED,
                          now)
        held = await db.execute(
            update(Message).where(Message.broadcast_id == broadcast.id, Message.status == MessageStatus.QUEUED)
            .values(send_at=HOLD, updated_at=now).execution_options(synchronize_session=False))
        _audit(db, actor, broadcast, "broadcast.pause", {"held": held.rowcount})  # type: ignore[attr-defined]
    return broadcast


async def resume_broadcast(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, broadcast_id: int,
                           tenant_id: int | None, actor: Actor, *, shards: int) -> Broadcast:
    """Release the held messages and continue the expansion where it stopped."""
    now = utcnow()
    async with db_factory() as db, db.begin():
        broadcast = await owned_broadcast(db, broadcast_id, tenant_id)
        session = await db.get(WaSession, broadcast.session_id) if broadcast.session_id else None
        if session is None or session.status != SessionStatus.WORKING:
            state = session.status if session else "deleted"
            raise Conflict(f"Session is {state}, not WORKING: connect it before resuming",
                           details={"status": str(state)})
        waiting = broadcast.next_position == 0 and broadcast.start_at is not None and broadcast.start_at > now
        await _transition(db, broadcast, (BroadcastStatus.PAUSED,),
                          BroadcastStatus.SCHEDULED if waiting else BroadcastStatus.RUNNING, now)
        held = list(await db.scalars(select(Message.id).where(
            Message.broadcast_id == broadcast.id, Message.status == MessageStatus.QUEUED, Message.send_at == HOLD)))
        if held:
            await db.execute(update(Message).where(Message.id.in_(held)).values(send_at=None, updated_at=now)
                             .execution_options(synchronize_session=False))
        _audit(db, actor, broadcast, "broadcast.resume", {"released": len(held)})
    if broadcast.status == BroadcastStatus.RUNNING:
        await _wake_expansion(redis, broadcast.id, broadcast.next_position)
    if held and broadcast.session_id:
        await _wake_senders(redis, shards, [SendJob(broadcast.session_id, mid) for mid in held])
    return broadcast


async def cancel_broadcast(db_factory: async_sessionmaker[AsyncSession], broadcast_id: int, tenant_id: int | None,
                           actor: Actor) -> Broadcast:
    """Stop for good: recipients not yet expanded are skipped, queued messages fail with "broadcast cancelled"."""
    now = utcnow()
    reason = "broadcast cancelled"
    async with db_factory() as db, db.begin():
        broadcast = await owned_broadcast(db, broadcast_id, tenant_id)
        await _transition(db, broadcast, _ACTIVE, BroadcastStatus.CANCELLED, now)
        failed = await db.execute(
            update(Message).where(Message.broadcast_id == broadcast.id, Message.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.FAILED, error=reason, failed_at=now, updated_at=now)
            .execution_options(synchronize_session=False))
        skipped = await db.execute(
            update(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast.id,
                   BroadcastRecipient.status == RecipientStatus.PENDING)
            .values(status=RecipientStatus.SKIPPED, error=reason).execution_options(synchronize_session=False))
        _audit(db, actor, broadcast, "broadcast.cancel", {
            "failed": failed.rowcount, "skipped": skipped.rowcount})  # type: ignore[attr-defined]
    return broadcast


async def owned_session(db: AsyncSession, session_id: str, tenant_id: int | None) -> WaSession:
    session = await db.get(WaSession, session_id) if isinstance(session_id, str) and session_id else None
    if session is None:
        raise NotFound("Session not found")
    if tenant_id is not None and session.tenant_id != tenant_id:
        raise OtherTenant("Session not found", f"session {session_id!r} belongs to another tenant")
    return session


async def owned_broadcast(db: AsyncSession, broadcast_id: int, tenant_id: int | None) -> Broadcast:
    broadcast = await db.get(Broadcast, broadcast_id)
    # Another tenant's broadcast is "not found": its id tells nothing about it.
    if broadcast is None or (tenant_id is not None and broadcast.tenant_id != tenant_id):
        raise NotFound("Broadcast not found")
    return broadcast


def _check(request: BroadcastRequest, now: datetime, max_recipients: int) -> Template:
    """Every check that needs no database: name, template and its variables, recipients, start time, media."""
    errors: dict[str, Any] = {}
    if not isinstance(request.name, str) or not request.name.strip() or len(request.name.strip()) > MAX_NAME:
        errors["name"] = f"is required, at most {MAX_NAME} characters"
    template = parse_template(request.template)
    longest = MAX_CAPTION_CHARS if request.media else MAX_TEXT_CHARS
    if len(template.text) > longest:
        errors["template"] = f"is longer than {longest} characters"
    unknown = sorted(template.variables - request.recipients.columns)
    if unknown:
        errors["template"] = (f"uses unknown variable(s) {', '.join('{' + v + '}' for v in unknown)}; "
                              f"known: {', '.join(sorted(request.recipients.columns))}")
    rows = request.recipients.rows
    if not rows:
        errors["recipients"] = "has no usable phone number"
    elif len(rows) > max_recipients:
        errors["recipients"] = f"has {len(rows)} numbers; a broadcast may have at most {max_recipients}"
    if request.start_at is not None:
        start = request.start_at
        if start.tzinfo is None or start.utcoffset() is None:
            errors["start_at"] = "must be a date and time with a time zone"
        elif start < now - SEND_AT_GRACE:
            errors["start_at"] = "is in the past"
        elif start > now + SEND_AT_HORIZON:
            errors["start_at"] = f"is more than {SEND_AT_HORIZON.days} days ahead"
    if request.media and request.kind is None and request.media_type not in [t.value for t in MEDIA_TYPES]:
        errors["media_type"] = f"must be one of {', '.join(t.value for t in MEDIA_TYPES)} with a media file"
    if errors:
        raise Invalid("Invalid broadcast", details={
            **errors, "invalid_rows": [r.as_dict() for r in request.recipients.invalid[:100]]})
    return template


async def _check_allowance(db: AsyncSession, tenant_id: int, count: int, now: datetime) -> None:
    """Refuse an expired subscription, or one whose remaining messages cannot cover every recipient."""
    tenant = await db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("Tenant not found")
    subscription.check(tenant.status, tenant.expires_at, now)
    if tenant.max_messages is not None and tenant.messages_sent + count > tenant.max_messages:
        left = max(0, tenant.max_messages - tenant.messages_sent)
        raise Forbidden(f"Message limit: {count} recipients but only {left} messages left of {tenant.max_messages}",
                        details={"max_messages": tenant.max_messages, "messages_sent": tenant.messages_sent,
                                 "recipients": count})


async def _transition(db: AsyncSession, broadcast: Broadcast, sources: Sequence[BroadcastStatus],
                      target: BroadcastStatus, now: datetime) -> None:
    """Move the status with a conditional UPDATE, so a concurrent change (or the worker's) is never overwritten."""
    result = await db.execute(
        update(Broadcast).where(Broadcast.id == broadcast.id, Broadcast.status.in_(sources))
        .values(status=target, updated_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current = await db.scalar(select(Broadcast.status).where(Broadcast.id == broadcast.id))
        raise Conflict(f"The broadcast is {current}: it cannot become {target}", details={"status": str(current)})
    broadcast.status = target


def _effective_status() -> Any:
    """A recipient's status as its message has it now (queued and sending are both "queued")."""
    # Plain strings: the two status columns have different enum types, and the filter value is of either.
    message, recipient = type_coerce(Message.status, String()), type_coerce(BroadcastRecipient.status, String())
    return type_coerce(case(
        (message.in_((MessageStatus.QUEUED.value, MessageStatus.SENDING.value)), RecipientStatus.QUEUED.value),
        (Message.id.is_not(None), message),
        else_=recipient,
    ), String())


def _preview(recipients: RecipientList, template: Template, samples: list[dict[str, Any]]) -> Preview:
    return Preview(total=len(recipients.rows), samples=samples, invalid=[r.as_dict() for r in recipients.invalid],
                   duplicates=[d.as_dict() for d in recipients.duplicates], blank_lines=recipients.blank_lines,
                   variables=sorted(template.variables))


def _audit(db: AsyncSession, actor: Actor, broadcast: Broadcast, action: str, details: dict[str, Any]) -> None:
    audit.record(db, actor_type=actor.type, actor_id=actor.id, ip=actor.ip, action=action, target_type="broadcast",
                 target_id=broadcast.id, tenant_id=broadcast.tenant_id, details=details)


def _who(actor: Actor) -> str:
    return f"{actor.type}:{actor.id}" if actor.id is not None else str(actor.type)


def _page_args(page: int, limit: int) -> None:
    if page < 1 or not 1 <= limit <= MAX_PAGE_SIZE:
        raise Invalid("Invalid page", details={"page": "must be 1 or more", "limit": f"must be 1 to {MAX_PAGE_SIZE}"})


def _enum(enum: Any, value: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise Invalid("Invalid filter", details={"status": f"must be one of {', '.join(m.value for m in enum)}"}) \
            from None


async def _wake_expansion(redis: ArqRedis, broadcast_id: int, position: int) -> None:
    """Enqueue the expansion job; if Redis fails now, the worker's broadcast tick enqueues it within seconds."""
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_S):
            await enqueue_broadcast_expand(redis, broadcast_id, position)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("expansion job not enqueued; the broadcast tick will", broadcast_id=broadcast_id,
                    error=f"{type(exc).__name__}: {exc}")


async def _wake_senders(redis: ArqRedis, shards: int, jobs: list[SendJob]) -> None:
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_S):
            await enqueue_sends(redis, shards, jobs)
    except (RedisError, OSError, TimeoutError) as exc:  # the sender polls the database anyway
        log.warning("send jobs not enqueued", count=len(jobs), error=f"{type(exc).__name__}: {exc}")
