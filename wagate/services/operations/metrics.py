"""Dashboard numbers: live stats (sessions, queue, today's traffic, webhooks, process) and historical charts.

Days are the gateway's own (`settings.timezone`, Asia/Jakarta by default), not UTC. Their boundaries are
computed here as UTC instants and each row is put in its bucket by a CASE over those boundaries, so one
GROUP BY runs alike on MySQL and SQLite, needs no date function or time zone table in the database, and is
right across DST changes. Every query is limited to the caller's tenant when one is given.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Select, and_, case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.config import Settings
from wagate.db import figures
from wagate.db.enums import ActorType, BroadcastStatus, Direction, MessageStatus
from wagate.db.models_delivery import Broadcast, Webhook, WebhookDelivery
from wagate.db.models_identity import ApiKey, AuditLog
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.queue.names import WORKER_QUEUE, bridge_queue
from wagate.services.identity import key_requests
from wagate.services.operations.health import process_metrics

RANGES = {"day": 24, "week": 7, "month": 30}  # buckets: hours for a day, days otherwise
TOP = 10
SUCCESS = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
WEBHOOK_WINDOW = timedelta(hours=24)
BUCKET = "bucket"


@dataclass(frozen=True, slots=True)
class Buckets:
    """`len(starts) + 1` boundaries: bucket i is [bounds[i], bounds[i + 1])."""

    bounds: list[datetime]
    zone: ZoneInfo
    hourly: bool

    @property
    def labels(self) -> list[str]:
        form = "%Y-%m-%dT%H:00" if self.hourly else "%Y-%m-%d"
        return [b.astimezone(self.zone).strftime(form) for b in self.bounds[:-1]]

    def index(self, moment: datetime) -> int | None:
        i = bisect.bisect_right(self.bounds, moment) - 1
        return i if 0 <= i < len(self.bounds) - 1 else None


def day_start(zone: str, now: datetime, days_back: int = 0) -> datetime:
    """Midnight of a local day in `zone`, `days_back` days before today's, as an aware datetime."""
    tz = ZoneInfo(zone)
    return datetime.combine(now.astimezone(tz).date() - timedelta(days=days_back), time(), tz)


def buckets(zone: str, now: datetime, range_name: str) -> Buckets:
    """The last 24 local hours, or the last 7 or 30 local days, today (this hour) included."""
    count = RANGES[range_name]
    tz = ZoneInfo(zone)
    if range_name == "day":
        this_hour = now.astimezone(tz).replace(minute=0, second=0, microsecond=0)
        bounds = [this_hour - timedelta(hours=h) for h in range(count - 1, -2, -1)]
    else:
        bounds = [day_start(zone, now, d) for d in range(count - 1, -2, -1)]
    return Buckets(bounds, tz, range_name == "day")


def _visible(tenant_id: int | None) -> list[Any]:
    if tenant_id is None:
        return []
    return [Message.session_id.in_(select(WaSession.id).where(WaSession.tenant_id == tenant_id))]


async def _count(db: AsyncSession, *conditions: Any) -> int:
    return await db.scalar(select(func.count()).select_from(Message).where(*conditions)) or 0


async def _bucketed(db: AsyncSession, column: Any, spans: Buckets, *conditions: Any) -> list[int]:
    """Rows per bucket of `column`; the CASE yields the bucket index (see the module docstring)."""
    bounds = spans.bounds
    bucket = case(*[(column < b, i) for i, b in enumerate(bounds[1:])], else_=len(bounds) - 1).label(BUCKET)
    query: Select[Any] = (select(bucket, func.count()).select_from(Message)
                          .where(column >= bounds[0], column < bounds[-1], *conditions).group_by(text(BUCKET)))
    counts = [0] * (len(bounds) - 1)
    for index, count in await db.execute(query):
        counts[int(index)] = int(count)
    return counts


async def _queue_jobs(redis: Redis, shards: int) -> dict[str, int] | None:
    """Jobs waiting in arq's queues (sorted sets); None when Redis does not answer."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for shard in range(shards):
                pipe.zcard(bridge_queue(shard))
            pipe.zcard(WORKER_QUEUE)
            sizes = await pipe.execute()
    except (RedisError, OSError):
        return None
    return {"bridge": int(sum(sizes[:-1])), "worker": int(sizes[-1])}


async def sent_today_by_session(db: AsyncSession, settings: Settings, *conditions: Any,
                                 session_ids: list[str] | None = None, now: datetime | None = None) -> dict[str, int]:
    """Each session's Sent today (`figures.SENT_TODAY`), in the gateway's own day; sessions with none are absent."""
    if session_ids is not None:
        conditions = (*conditions, Message.session_id.in_(session_ids))
    now = now or utcnow()
    today, tomorrow = day_start(settings.timezone, now), day_start(settings.timezone, now, -1)
    rows = await db.execute(figures.sent_by_session(today, tomorrow, *conditions))
    return {str(session_id): int(n) for session_id, n in rows if session_id is not None}


async def stats(db: AsyncSession, redis: Redis, settings: Settings, *, tenant_id: int | None, started_at: float,
                now: datetime | None = None) -> dict[str, Any]:
    """The live numbers of the dashboard's top row; see the module docstring for days and tenants."""
    now = now or utcnow()
    visible = _visible(tenant_id)
    session_query = select(WaSession).order_by(WaSession.created_at, WaSession.id)
    if tenant_id is not None:
        session_query = session_query.where(WaSession.tenant_id == tenant_id)
    rows = list(await db.scalars(session_query))
    by_status: dict[str, int] = {}
    for row in rows:
        by_status[str(row.status)] = by_status.get(str(row.status), 0) + 1

    pending = dict((str(s), int(n)) for s, n in await db.execute(figures.waiting_by_status(*visible)))
    queued, sending = pending.get(MessageStatus.QUEUED, 0), pending.get(MessageStatus.SENDING, 0)
    # The arq queues are shared by every tenant: only an install-wide caller sees their size.
    jobs = await _queue_jobs(redis, settings.bridge_shards) if tenant_id is None else None

    today, tomorrow = day_start(settings.timezone, now), day_start(settings.timezone, now, -1)
    outbound = Message.direction == Direction.OUTBOUND
    sent_by_session = await sent_today_by_session(db, settings, *visible, now=now)
    sent = sum(sent_by_session.values())
    failed = await _count(db, outbound, Message.status == MessageStatus.FAILED, Message.failed_at >= today,
                          Message.failed_at < tomorrow, *visible)
    received = await _count(db, Message.direction == Direction.INBOUND, Message.created_at >= today,
                            Message.created_at < tomorrow, *visible)

    broadcast_query = select(Broadcast.status, func.count()).where(
        Broadcast.status.in_((BroadcastStatus.RUNNING, BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED)))
    if tenant_id is not None:
        broadcast_query = broadcast_query.where(Broadcast.tenant_id == tenant_id)
    broadcasts = {str(s): int(n) for s, n in await db.execute(broadcast_query.group_by(Broadcast.status))}

    return {
        "sessions": [{"id": r.id, "name": r.name, "status": str(r.status), "connected": r.status == "WORKING",
                      "phone": r.phone, "sent_today": sent_by_session.get(r.id, 0)} for r in rows],
        # What the figures count, in the words the dashboard's tooltips and the metrics' help texts show.
        "definitions": {"queue": figures.MESSAGES_WAITING, "sent_today": figures.SENT_TODAY},
        "sessions_by_status": by_status,
        "connected": by_status.get("WORKING", 0),
        "queue": {"queued": queued, "sending": sending, "jobs": jobs,
                  "length": queued + sending},
        "today": {"date": today.astimezone(ZoneInfo(settings.timezone)).date().isoformat(),
                  "timezone": settings.timezone, "sent": sent, "failed": failed, "received": received},
        "messages_sent_today": sent,
        "success_rate": round(100 * sent / (sent + failed), 1) if sent + failed else None,
        "active_broadcasts": broadcasts.get(BroadcastStatus.RUNNING, 0),
        "broadcasts": {s.value: broadcasts.get(s, 0)
                       for s in (BroadcastStatus.RUNNING, BroadcastStatus.SCHEDULED, BroadcastStatus.PAUSED)},
        "webhooks": await webhook_health(db, tenant_id=tenant_id, now=now),
        "system": process_metrics(started_at),
    }


async def webhook_health(db: AsyncSession, *, tenant_id: int | None, now: datetime) -> dict[str, Any]:
    """Deliveries of the last 24 h by status: many `exhausted` or `failed` means a receiver is down."""
    query = (select(WebhookDelivery.status, func.count())
             .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
             .where(WebhookDelivery.created_at >= now - WEBHOOK_WINDOW))
    if tenant_id is not None:
        owned = select(WaSession.id).where(WaSession.tenant_id == tenant_id)
        query = query.where(or_(Webhook.tenant_id == tenant_id, Webhook.session_id.in_(owned)))
    counts = {str(s): int(n) for s, n in await db.execute(query.group_by(WebhookDelivery.status))}
    total = sum(counts.values())
    bad = counts.get("failed", 0) + counts.get("exhausted", 0)
    return {"window_hours": 24, "deliveries": counts, "total": total,
            "status": "idle" if not total else ("failing" if bad * 2 > total else "ok" if not bad else "degraded")}


async def charts(db: AsyncSession, redis: Redis, settings: Settings, *, range_name: str, tenant_id: int | None,
                 now: datetime | None = None) -> dict[str, Any]:
    """Messages per bucket, top contacts, failure reasons, median queue→sent time, API usage per key."""
    now = now or utcnow()
    spans = buckets(settings.timezone, now, range_name)
    start, end = spans.bounds[0], spans.bounds[-1]
    visible = _visible(tenant_id)
    outbound = Message.direction == Direction.OUTBOUND
    series = {
        "sent": await _bucketed(db, Message.sent_at, spans, outbound, *visible),
        "received": await _bucketed(db, Message.created_at, spans, Message.direction == Direction.INBOUND, *visible),
        "failed": await _bucketed(db, Message.failed_at, spans, outbound, Message.status == MessageStatus.FAILED,
                                  *visible),
    }
    return {
        "range": range_name,
        "bucket": "hour" if spans.hourly else "day",
        "timezone": settings.timezone,
        "labels": spans.labels,
        "messages": series,
        "top_contacts": await _top_contacts(db, start, end, visible),
        "failure_reasons": await _failure_reasons(db, start, end, visible),
        "response_time": await _response_times(db, spans, visible),
        "api_usage": await _api_usage(db, await _key_requests(redis, start, end), start, tenant_id),
    }


async def _top_contacts(db: AsyncSession, start: datetime, end: datetime, visible: list[Any]) -> list[dict[str, Any]]:
    out = func.sum(case((Message.direction == Direction.OUTBOUND, 1), else_=0))
    total = func.count()
    rows = await db.execute(
        select(Message.chat_jid, out, total).where(Message.chat_jid.is_not(None), Message.created_at >= start,
                                                  Message.created_at < end, *visible)
        .group_by(Message.chat_jid).order_by(total.desc(), Message.chat_jid).limit(TOP))
    return [{"chat": chat, "phone": chat.split("@", 1)[0] if chat.endswith("@s.whatsapp.net") else None,
             "sent": int(sent or 0), "received": int(count) - int(sent or 0), "total": int(count)}
            for chat, sent, count in rows]


async def _failure_reasons(db: AsyncSession, start: datetime, end: datetime,
                           visible: list[Any]) -> list[dict[str, Any]]:
    total = func.count()
    rows = await db.execute(
        select(Message.error, total).where(Message.status == MessageStatus.FAILED, Message.failed_at >= start,
                                           Message.failed_at < end, *visible)
        .group_by(Message.error).order_by(total.desc()).limit(TOP))
    return [{"reason": error or "unknown", "count": int(count)} for error, count in rows]


async def _response_times(db: AsyncSession, spans: Buckets, visible: list[Any]) -> list[float | None]:
    """Median seconds from queued (or its scheduled time) to sent, per bucket of `sent_at`; None: nothing sent.

    A median needs every value, and neither engine has a portable percentile function: the pairs are read
    and the medians computed here, one pass over the window's sent messages.
    """
    delays: list[list[float]] = [[] for _ in spans.bounds[:-1]]
    result = await db.stream(
        select(Message.sent_at, Message.created_at, Message.send_at).where(
            Message.direction == Direction.OUTBOUND, Message.sent_at >= spans.bounds[0],
            Message.sent_at < spans.bounds[-1], *visible).execution_options(yield_per=1000))
    async for sent_at, created_at, send_at in result:
        index = spans.index(sent_at) if sent_at is not None else None  # never None here: the query compares it
        if sent_at is not None and index is not None:
            queued_at = max(created_at, send_at) if send_at is not None else created_at  # scheduled: waits by design
            delays[index].append(max(0.0, (sent_at - queued_at).total_seconds()))
    return [round(statistics.median(d), 3) if d else None for d in delays]


async def _key_requests(redis: Redis, start: datetime, end: datetime) -> Mapping[int, int] | None:
    """Requests per key in the window; None (shown as unknown, not as zero) while Redis is unreachable."""
    try:
        return await key_requests.between(redis, start, end)
    except (RedisError, OSError):
        return None


async def _api_usage(db: AsyncSession, requests: Mapping[int, int] | None, since: datetime,
                     tenant_id: int | None) -> list[dict[str, Any]]:
    """Every key with its requests in the window (counted per hour in Redis), its last use, and the changes made
    with it in the window (from the audit log); the busiest first."""
    keys_query = select(ApiKey).order_by(ApiKey.id)
    if tenant_id is not None:
        keys_query = keys_query.where(ApiKey.tenant_id == tenant_id)
    keys = list(await db.scalars(keys_query))
    if not keys:
        return []
    changes = dict((actor_id, int(n)) for actor_id, n in await db.execute(
        select(AuditLog.actor_id, func.count()).where(
            and_(AuditLog.actor_type == ActorType.API_KEY, AuditLog.created_at >= since,
                 AuditLog.actor_id.in_([str(k.id) for k in keys])))
        .group_by(AuditLog.actor_id)))
    usage = [{"id": k.id, "name": k.name, "prefix": k.prefix, "role": str(k.role),
              "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
              "revoked": k.revoked_at is not None,
              "requests": None if requests is None else requests.get(k.id, 0),
              "changes": changes.get(str(k.id), 0)} for k in keys]
    return sorted(usage, key=lambda k: -(k["requests"] or 0))  # stable: ties stay in id order
