"""The outbox: send jobs for committed `queued` rows, many per round trip, and the sweep that re-enqueues lost ones.

Row first, job second (DESIGN "Sending"): a row is committed before its job exists, so a Redis outage or a
crash between the two leaves a `queued` row with no job. The sweep, a worker cron, finds those rows and
enqueues their jobs again. A job only wakes the session's sender, which reads the database, so an extra job
never sends twice, and a missing one only delays a message until the next sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.queue.jobs import SEND_MESSAGE
from wagate.queue.names import bridge_queue, shard_of, wake_channel

log = structlog.get_logger("wagate.outbox")

# A row younger than this may still be between its commit and its enqueue in the web process.
STALE_AFTER_S = 30
# One sweep's batch: a backlog larger than this drains over the following minutes instead of one huge pipeline.
SWEEP_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class SendJob:
    session_id: str
    message_id: int
    defer_until: datetime | None = None


def send_job_id(message_id: int) -> str:
    """The arq job id of a message's send job; the same id `wagate.queue.jobs.enqueue_send` gives it."""
    return f"send:{message_id}"


async def enqueue_sends(redis: ArqRedis, shards: int, jobs: Sequence[SendJob]) -> int:
    """Enqueue many send jobs in one pipeline; returns how many were new.

    Writes what `ArqRedis.enqueue_job` writes (the job key, then the queue entry), but with SET NX and ZADD NX
    instead of its WATCH/MULTI per job: a job that is already queued or running keeps its key, its queue entry
    and its score, so enqueueing stays idempotent without one round trip per job.
    """
    if not jobs:
        return 0
    now_ms = timestamp_ms()
    due_now = {job.session_id for job in jobs if job.defer_until is None or to_unix_ms(job.defer_until) <= now_ms}
    async with redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            job_id = send_job_id(job.message_id)
            score = max(to_unix_ms(job.defer_until), now_ms) if job.defer_until else now_ms
            payload = serialize_job(SEND_MESSAGE, (job.session_id, job.message_id), {}, None, now_ms,
                                    serializer=redis.job_serializer)
            pipe.set(job_key_prefix + job_id, payload, px=score - now_ms + redis.expires_extra_ms, nx=True)
            pipe.zadd(bridge_queue(shard_of(job.session_id, shards)), {job_id: score}, nx=True)
        for session_id in sorted(due_now):  # a nudge per session with something due: an idle bridge starts at once
            pipe.publish(wake_channel(shard_of(session_id, shards)), session_id)
        results = await pipe.execute()
    return sum(1 for created in results[:2 * len(jobs):2] if created)


async def sweep_outbox(
    db_factory: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settings: Settings,
    *,
    stale_after_s: float = STALE_AFTER_S,
    limit: int = SWEEP_LIMIT,
) -> int:
    """Re-enqueue due outgoing `queued` rows older than `stale_after_s` whose job is gone; returns the count.

    Scheduled rows not yet due are left alone: their deferred job is in Redis, or will be enqueued by a sweep
    once they are due. Rows of deleted sessions (session_id NULL) have no bridge to go to and are skipped.
    """
    now = utcnow()
    async with db_factory() as db:
        rows = (await db.execute(
            select(Message.id, Message.session_id)
            .where(
                Message.status == MessageStatus.QUEUED,
                Message.updated_at < now - timedelta(seconds=stale_after_s),
                Message.direction == Direction.OUTBOUND,
                Message.session_id.is_not(None),
                or_(Message.send_at.is_(None), Message.send_at <= now),
            )
            .order_by(Message.id)
            .limit(limit)
        )).all()
    if not rows:
        return 0
    # One EXISTS per row counting the job key and the in-progress key: 0 means arq has no trace of the job.
    async with redis.pipeline(transaction=False) as pipe:
        for message_id, _ in rows:
            job_id = send_job_id(message_id)
            pipe.exists(job_key_prefix + job_id, in_progress_key_prefix + job_id)
        found = await pipe.execute()
    missing = [SendJob(session_id, message_id) for (message_id, session_id), exists in zip(rows, found, strict=True)
               if not exists and session_id is not None]
    enqueued = await enqueue_sends(redis, settings.bridge_shards, missing)
    if enqueued:
        log.info("outbox sweep re-enqueued sends", count=enqueued, first_message_id=missing[0].message_id)
    return enqueued
