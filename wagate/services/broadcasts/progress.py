"""Running broadcasts: recipients expanded into messages a chunk at a time, progress, completion, and the tick.

Expansion. A chunk claims positions [next_position, next_position + 50) with a conditional UPDATE of
`next_position` (the row lock on MySQL, the write lock on SQLite make concurrent claims take turns), charges
the tenant for the chunk, writes the chunk's `bulk` messages and points each recipient at its message, all in
one transaction; only then are the send jobs enqueued (pipelined) and the next chunk's job. Each message also
carries the idempotency key `broadcast:<id>:<recipient id>`, unique per session, so even a claim gone wrong
could not give a recipient a second message. A job that runs twice finds its chunk claimed and only makes
sure the next chunk's job exists; a worker killed between commit and enqueue, or a Redis that lost the job,
is caught by the tick, which enqueues the missing job.

Progress is counted, not tracked: a grouped query over the broadcast's recipients joined to their messages
(`ix_messages_broadcast_id_status`). The message rows are the one source of truth the bridge already writes,
so a count is exact whatever was retried, replayed or lost, where a consumer of the event stream would have
to deduplicate events and would drift on any event the bridge failed to publish. `GET` counts live; the
tick (every few seconds, while a broadcast is active) stores the counters for the list and decides
completion. `broadcast.completed` fires once, from the conditional UPDATE that sets `completed_event_sent`,
when no recipient is waiting any more: every send was attempted (sent, delivered, read or failed), including
after a cancel (data `status: cancelled`) or a stop at the message limit (`status: failed`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import (
    BroadcastStatus,
    Direction,
    MessageStatus,
    MessageType,
    Priority,
    RecipientStatus,
    TenantStatus,
)
from wagate.db.models_delivery import Broadcast, BroadcastRecipient
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.queue.jobs import broadcast_expand_job_id, enqueue_broadcast_expand
from wagate.services import events
from wagate.services.broadcasts import kinds as broadcast_kinds
from wagate.services.broadcasts.recipients import RecipientRow, parse_template
from wagate.services.messaging.outbox import SendJob, enqueue_sends
from wagate.services.messaging.phones import USER_SERVER

log = structlog.get_logger("wagate.broadcasts")

CHUNK_SIZE = 50
# A running broadcast whose next_position has not moved for this long while its chunk job still exists has
# a job held by a killed worker (arq retries it only after its in-progress timeout, minutes): run it anew.
STALL_AFTER = timedelta(seconds=60)
_FINAL = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED,
                    MessageStatus.UNKNOWN})
_OPEN = (BroadcastStatus.RUNNING, BroadcastStatus.PAUSED, BroadcastStatus.CANCELLED, BroadcastStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a broadcast's recipients are; `sent` and `delivered` include those that went further (read …)."""

    total: int = 0
    pending: int = 0  # not expanded yet
    queued: int = 0  # a message waits to be sent (or is being sent, or is held by a pause)
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0  # failed sends, and recipients skipped (cancelled or stopped before their message existed)

    @property
    def waiting(self) -> int:
        return self.pending + self.queued

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, "pending": self.waiting, "not_expanded": self.pending, "queued": self.queued,
                "sent": self.sent, "delivered": self.delivered, "read": self.read, "failed": self.failed}


@dataclass(frozen=True, slots=True)
class Chunk:
    expanded: int  # messages written by this call
    next_position: int
    more: bool  # the next chunk's job was enqueued


async def progress_of(db: AsyncSession, broadcast_id: int) -> Progress:
    """Count the broadcast's recipients by the status of their message (or their own, before expansion)."""
    rows = (await db.execute(
        select(BroadcastRecipient.status, Message.status, func.count())
        .select_from(BroadcastRecipient)
        .outerjoin(Message, Message.id == BroadcastRecipient.message_id)
        .where(BroadcastRecipient.broadcast_id == broadcast_id)
        .group_by(BroadcastRecipient.status, Message.status)
    )).all()
    counts = dict.fromkeys(("pending", "queued", "sent", "delivered", "read", "failed"), 0)
    for recipient_status, message_status, count in rows:
        status = _status_name(recipient_status, message_status)
        counts[status] += count
    return Progress(
        total=sum(counts.values()), pending=counts["pending"], queued=counts["queued"],
        sent=counts["sent"] + counts["delivered"] + counts["read"], delivered=counts["delivered"] + counts["read"],
        read=counts["read"], failed=counts["failed"],
    )


async def expand_chunk(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings,
                       broadcast_id: int, *, size: int = CHUNK_SIZE) -> Chunk:
    """Turn the next `size` recipients into queued messages (see the module docstring), then enqueue their sends."""
    now = utcnow()
    async with db_factory() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.status != BroadcastStatus.RUNNING:
            return Chunk(0, broadcast.next_position if broadcast else 0, more=False)
        # Plain values: a rollback expires the ORM object, and an expired attribute would need a lazy load.
        position, total, tenant_id = broadcast.next_position, broadcast.total_count, broadcast.tenant_id
        if position >= total:
            return Chunk(0, position, more=False)
        session = await db.get(WaSession, broadcast.session_id) if broadcast.session_id else None
        if session is None:
            await stop_broadcast(db_factory, broadcast_id, "the session was deleted")
            return Chunk(0, position, more=False)
        recipients = list(await db.scalars(
            select(BroadcastRecipient)
            .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.position >= position)
            .order_by(BroadcastRecipient.position).limit(size)))
        end = recipients[-1].position + 1 if recipients else total
        claimed = await db.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.RUNNING,
                   Broadcast.next_position == position)
            .values(next_position=end, updated_at=now).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            await db.rollback()  # paused, cancelled, or this chunk is done: make sure the next one has its job
            return await _follow_up(db_factory, redis, broadcast_id)
        todo = [r for r in recipients if r.message_id is None and r.status == RecipientStatus.PENDING]
        if tenant_id is not None and todo and not await _charge(db, tenant_id, len(todo), now):
            await db.rollback()
            await stop_broadcast(db_factory, broadcast_id, await _why_refused(db, tenant_id, now))
            return Chunk(0, position, more=False)
        template = parse_template(broadcast.template)
        kind = _media_type(broadcast.media_mime) if broadcast.media_path or broadcast.media_id else None
        row_type = MessageType(broadcast.message_type) if broadcast.message_type else kind or MessageType.TEXT
        messages = [Message(
            session_id=session.id, direction=Direction.OUTBOUND, chat_jid=f"{r.phone}@{USER_SERVER}",
            sender_jid=session.jid, recipient=r.phone, type=row_type, content=broadcast.content,
            **broadcast_kinds.message_fields(row_type, broadcast.content, template.render(_values(r))),
            media_path=broadcast.media_path, media_id=broadcast.media_id, media_mime=broadcast.media_mime,
            media_name=broadcast.media_name,
            status=MessageStatus.QUEUED, priority=Priority.BULK, broadcast_id=broadcast_id,
            broadcast_recipient_id=r.id, idempotency_key=f"broadcast:{broadcast_id}:{r.id}",
        ) for r in todo]
        db.add_all(messages)
        await db.flush()
        if messages:
            await db.execute(update(BroadcastRecipient), [
                {"id": r.id, "message_id": m.id, "status": RecipientStatus.QUEUED} for r, m in zip(todo, messages,
                                                                                                   strict=True)])
        await db.commit()
        session_id = session.id
    jobs = [SendJob(session_id, m.id) for m in messages]
    await enqueue_sends(redis, settings.bridge_shards, jobs)
    more = end < total
    if more:
        await enqueue_broadcast_expand(redis, broadcast_id, end)
    log.info("broadcast chunk expanded", broadcast_id=broadcast_id, first=position, count=len(messages),
             next_position=end)
    return Chunk(len(messages), end, more)


async def stop_broadcast(db_factory: async_sessionmaker[AsyncSession], broadcast_id: int, reason: str) -> None:
    """End a running broadcast that cannot go on: recipients without a message are skipped with `reason`."""
    now = utcnow()
    async with db_factory() as db, db.begin():
        stopped = await db.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.RUNNING)
            .values(status=BroadcastStatus.FAILED, updated_at=now).execution_options(synchronize_session=False))
        if stopped.rowcount == 1:  # type: ignore[attr-defined]
            await db.execute(
                update(BroadcastRecipient)
                .where(BroadcastRecipient.broadcast_id == broadcast_id,
                       BroadcastRecipient.status == RecipientStatus.PENDING)
                .values(status=RecipientStatus.SKIPPED, error=reason).execution_options(synchronize_session=False))
    log.warning("broadcast stopped", broadcast_id=broadcast_id, reason=reason)


async def refresh(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, broadcast_id: int) -> Progress:
    """Store the counters; when nothing waits any more, finish the broadcast and publish `broadcast.completed` once."""
    now = utcnow()
    async with db_factory() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
        if broadcast is None:
            return Progress()
        progress = await progress_of(db, broadcast_id)
        counters = {"pending_count": progress.waiting, "sent_count": progress.sent,
                    "delivered_count": progress.delivered, "read_count": progress.read,
                    "failed_count": progress.failed}
        stopped = broadcast.status in (BroadcastStatus.CANCELLED, BroadcastStatus.FAILED)
        finished = (progress.waiting == 0 and not broadcast.completed_event_sent and broadcast.status in _OPEN
                    and (stopped or broadcast.next_position >= broadcast.total_count))
        if not finished:
            await db.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(**counters)
                             .execution_options(synchronize_session=False))
            await db.commit()
            return progress
        status = BroadcastStatus.COMPLETED if broadcast.status in (BroadcastStatus.RUNNING, BroadcastStatus.PAUSED) \
            else broadcast.status
        won = await db.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.completed_event_sent.is_(False),
                   Broadcast.status == broadcast.status)
            .values(status=status, completed_at=now, completed_event_sent=True, updated_at=now, **counters)
            .execution_options(synchronize_session=False))
        if won.rowcount != 1:  # type: ignore[attr-defined]
            await db.rollback()
            return progress
        # Keep each recipient's outcome on its own row: retention may delete old messages later.
        outcome = select(Message.status).where(Message.id == BroadcastRecipient.message_id).scalar_subquery()
        error = select(Message.error).where(Message.id == BroadcastRecipient.message_id).scalar_subquery()
        await db.execute(update(BroadcastRecipient)
                         .where(BroadcastRecipient.broadcast_id == broadcast_id,
                                BroadcastRecipient.message_id.is_not(None))
                         .values(status=outcome, error=error).execution_options(synchronize_session=False))
        await db.commit()
        tenant_id, session_id, name = broadcast.tenant_id, broadcast.session_id, broadcast.name
        started = broadcast.start_at
    data: dict[str, Any] = {"broadcastId": broadcast_id, "name": name, "status": status.value,
                            **progress.as_dict(), "startedAt": started.isoformat() if started else None,
                            "completedAt": now.isoformat()}
    # The row says it is finished, so this is the one try: Redis away is waited for rather than the event lost.
    await events.publish_durably(redis, tenant_id, events.envelope("broadcast.completed", session_id, data), log=log,
                                 what="broadcast.completed", broadcast_id=broadcast_id)
    log.info("broadcast finished", broadcast_id=broadcast_id, status=status.value, **progress.as_dict())
    return progress


async def tick(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings,
               *, stall_after: timedelta = STALL_AFTER) -> dict[str, int]:
    """Start due scheduled broadcasts, re-enqueue lost chunk jobs, store progress and finish broadcasts."""
    now = utcnow()
    report = {"started": 0, "resumed": 0, "finished": 0}
    async with db_factory() as db:
        rows = (await db.execute(
            select(Broadcast.id, Broadcast.status, Broadcast.next_position, Broadcast.total_count,
                   Broadcast.updated_at)
            .where(or_(
                (Broadcast.status == BroadcastStatus.SCHEDULED) & (Broadcast.start_at <= now),
                Broadcast.status.in_(_OPEN) & Broadcast.completed_event_sent.is_(False),
            )).order_by(Broadcast.id)
        )).all()
    for broadcast_id, status, position, total, updated_at in rows:
        if status == BroadcastStatus.SCHEDULED:
            if await _start_scheduled(db_factory, broadcast_id, now):
                report["started"] += 1
                await enqueue_broadcast_expand(redis, broadcast_id, position)
            continue
        if status == BroadcastStatus.RUNNING and position < total:
            job_id = broadcast_expand_job_id(broadcast_id, position)
            if not await redis.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id):
                report["resumed"] += await enqueue_broadcast_expand(redis, broadcast_id, position)
            elif updated_at < now - stall_after:
                retry_id = f"{job_id}:retry:{int(time.time()) // 60}"
                report["resumed"] += await enqueue_broadcast_expand(redis, broadcast_id, position, job_id=retry_id)
            continue
        before = await _finished(db_factory, broadcast_id)
        await refresh(db_factory, redis, broadcast_id)
        report["finished"] += int(not before and await _finished(db_factory, broadcast_id))
    return report


async def _follow_up(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, broadcast_id: int) -> Chunk:
    async with db_factory() as db:
        row = (await db.execute(select(Broadcast.status, Broadcast.next_position, Broadcast.total_count)
                                .where(Broadcast.id == broadcast_id))).one()
    more = row.status == BroadcastStatus.RUNNING and row.next_position < row.total_count
    if more:
        await enqueue_broadcast_expand(redis, broadcast_id, row.next_position)
    return Chunk(0, row.next_position, more)


async def _start_scheduled(db_factory: async_sessionmaker[AsyncSession], broadcast_id: int, now: datetime) -> bool:
    async with db_factory() as db, db.begin():
        result = await db.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SCHEDULED)
            .values(status=BroadcastStatus.RUNNING, updated_at=now).execution_options(synchronize_session=False))
    started = result.rowcount == 1  # type: ignore[attr-defined]
    if started:
        log.info("scheduled broadcast started", broadcast_id=broadcast_id)
    return started


async def _finished(db_factory: async_sessionmaker[AsyncSession], broadcast_id: int) -> bool:
    async with db_factory() as db:
        return bool(await db.scalar(select(Broadcast.completed_event_sent).where(Broadcast.id == broadcast_id)))


async def _charge(db: AsyncSession, tenant_id: int, count: int, now: datetime) -> bool:
    """Count a chunk against the tenant's max_messages in one conditional UPDATE (see messaging._count_messages)."""
    result = await db.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id, Tenant.status == TenantStatus.ACTIVE,
               or_(Tenant.expires_at.is_(None), Tenant.expires_at > now),
               or_(Tenant.max_messages.is_(None), Tenant.messages_sent + count <= Tenant.max_messages))
        .values(messages_sent=Tenant.messages_sent + count, updated_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


async def _why_refused(db: AsyncSession, tenant_id: int, now: datetime) -> str:
    tenant = await db.get(Tenant, tenant_id)
    if tenant is None:
        return "the tenant was deleted"
    if tenant.status != TenantStatus.ACTIVE or (tenant.expires_at is not None and tenant.expires_at <= now):
        return "subscription expired"
    return f"message limit reached ({tenant.messages_sent} of {tenant.max_messages})"


def _status_name(recipient: RecipientStatus | str, message: MessageStatus | str | None) -> str:
    if message is not None:
        status = MessageStatus(message)
        return status.value if status in _FINAL else "queued"
    recipient = RecipientStatus(recipient)
    return "failed" if recipient == RecipientStatus.SKIPPED else recipient.value


def _values(recipient: BroadcastRecipient) -> dict[str, str]:
    return RecipientRow(0, recipient.phone, recipient.name, recipient.variables or {}).values()


def _media_type(mime: str | None) -> MessageType:
    top = (mime or "").split("/", 1)[0]
    return {"image": MessageType.IMAGE, "video": MessageType.VIDEO, "audio": MessageType.AUDIO}.get(
        top, MessageType.DOCUMENT)
