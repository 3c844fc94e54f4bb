"""Webhook fan-out: the event stream read with a consumer group, one delivery row per (webhook, event), then jobs.

Order per batch: read (XREADGROUP, or XAUTOCLAIM of entries a dead reader left pending) → insert the deliveries,
duplicates ignored thanks to unique (webhook_id, event_id) → commit → enqueue a job per still-untried delivery
(idempotent job ids) → XACK. A crash anywhere before XACK leaves the entries pending, so they are read again and
the second pass writes nothing new; a crash after the commit but before the enqueue is repaired by the sweep.

The session settings' `webhook_url`/`webhook_events` act as a session webhook: fan-out keeps one `webhooks` row
per such session (description `SESSION_SETTINGS_WEBHOOK`) in step with the settings, so its deliveries have a
row to point to; its body format is the settings' `webhook_format` (wuzapi's when set through `/wa/webhook`).
Its secret is the session's `webhook_secret_encrypted` when set; otherwise one is generated on first use and
stored on both rows (rotate it through the webhook API to read it). A webhook in wuzapi's format gets no row for
an event wuzapi has no name for (see `formats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge.leases import holder_is_gone, process_owner
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus, WebhookFormat
from wagate.db.models_delivery import Webhook, WebhookDelivery
from wagate.db.models_whatsapp import WaSession
from wagate.db.types import utcnow
from wagate.services.events import EVENT_STREAM, subscribed
from wagate.services.webhooks import secrets_box
from wagate.services.webhooks.delivery import DueAttempt, enqueue_attempts
from wagate.services.webhooks.formats import render

log = structlog.get_logger("wagate.webhooks")

GROUP = "wagate:webhooks"
SESSION_SETTINGS_WEBHOOK = "session settings"
SESSION_FORMAT_KEY = "webhook_format"  # in the session's `settings`: the body its settings webhook receives
BATCH = 200
BLOCK_MS = 500  # also how long a stopping reader may take to notice
# Entries another reader took and has not acknowledged for a job lease (settings.job_lease_s) are presumed
# left by a dead reader and claimed; readers look for them four times per lease. A live reader acknowledges
# within a batch, and should a slow batch be claimed all the same, fanning it out twice writes and enqueues
# nothing new (duplicate deliveries are ignored, job ids are idempotent).
CLAIM_CHECKS_PER_LEASE = 4


@dataclass(frozen=True, slots=True)
class StreamEvent:
    entry_id: str
    event_id: str
    event: str
    session: str | None
    tenant: str
    raw: str


def consumer_name() -> str:
    """Host, PID namespace and PID, as the bridge's lease owners: a reader that is gone can be told (see below)."""
    return process_owner()


async def ensure_group(redis: Redis) -> None:
    """Create the group (and the stream) if missing, from the stream's start: nothing published earlier is lost."""
    try:
        await redis.xgroup_create(EVENT_STREAM, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class Scoped(Protocol):
    """A receiver of events (a webhook, an event export): global, a tenant's or one session's, with a filter."""

    @property
    def events(self) -> list[str] | str: ...

    @property
    def tenant_id(self) -> int | None: ...

    @property
    def session_id(self) -> str | None: ...


def parse_entries(entries: Sequence[Any]) -> tuple[list[StreamEvent], list[str]]:
    events, bad = [], []
    for entry_id, fields in entries:
        entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        try:
            raw = fields[b"event"].decode()
            body = json.loads(raw)
            events.append(StreamEvent(entry, str(body["id"]), str(body["event"]), body.get("session"),
                                      fields.get(b"tenant", b"").decode(), raw))
        except (KeyError, TypeError, ValueError, AttributeError):
            bad.append(entry)
    return events, bad


def matches(receiver: Scoped, event: StreamEvent) -> bool:
    if receiver.events != "*" and not subscribed(receiver.events or (), event.event):
        return False
    if receiver.session_id is not None:
        return receiver.session_id == event.session
    if receiver.tenant_id is not None:
        return str(receiver.tenant_id) == event.tenant
    return True


async def _sync_session_webhooks(db: AsyncSession, settings: Settings, session_ids: set[str]) -> None:
    """Keep each batch session's settings webhook row in step with its `webhook_url` / `webhook_events`."""
    if not session_ids:
        return
    sessions = {s.id: s for s in await db.scalars(select(WaSession).where(WaSession.id.in_(session_ids)))}
    rows = {w.session_id: w for w in await db.scalars(
        select(Webhook).where(Webhook.session_id.in_(session_ids), Webhook.description == SESSION_SETTINGS_WEBHOOK))}
    for session_id, session in sessions.items():
        row = rows.get(session_id)
        if not session.webhook_url:
            if row is not None and row.is_active:
                row.is_active = False
            continue
        events: list[str] | str = session.webhook_events or "*"
        if "*" in events:
            events = "*"
        body_format = WebhookFormat((session.settings or {}).get(SESSION_FORMAT_KEY, WebhookFormat.WAGATE))
        if session.webhook_secret_encrypted is None:
            session.webhook_secret_encrypted = secrets_box.encrypt(settings.encryption_key, secrets_box.new_secret())
        if row is None:
            db.add(Webhook(tenant_id=session.tenant_id, session_id=session_id, url=session.webhook_url, events=events,
                           secret_encrypted=session.webhook_secret_encrypted, description=SESSION_SETTINGS_WEBHOOK,
                           format=body_format))
        elif (row.url, row.events, row.is_active, row.secret_encrypted, row.format) != (
                session.webhook_url, events, True, session.webhook_secret_encrypted, body_format):
            row.url, row.events, row.is_active = session.webhook_url, events, True
            row.secret_encrypted, row.format = session.webhook_secret_encrypted, body_format
    await db.flush()


def _insert_ignoring_duplicates(dialect: str, rows: list[dict[str, Any]]) -> Any:
    if dialect == "sqlite":
        return sqlite.insert(WebhookDelivery).values(rows).on_conflict_do_nothing()
    # INSERT IGNORE would raise a MySQL warning per duplicate; a no-op update of the key raises none.
    stmt = mysql.insert(WebhookDelivery).values(rows)
    return stmt.on_duplicate_key_update(event_id=stmt.inserted.event_id)


async def fan_out(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings,
                  events: Sequence[StreamEvent]) -> int:
    """Write the deliveries of a batch of events and enqueue their first attempts; returns the jobs enqueued."""
    if not events:
        return 0
    now = utcnow()
    tenants = {int(e.tenant) for e in events if e.tenant.isdigit()}
    sessions = {e.session for e in events if e.session}
    async with db_factory() as db, db.begin():
        await _sync_session_webhooks(db, settings, sessions)
        webhooks = list(await db.scalars(select(Webhook).where(Webhook.is_active.is_(True), or_(
            and_(Webhook.tenant_id.is_(None), Webhook.session_id.is_(None)),
            and_(Webhook.tenant_id.in_(tenants), Webhook.session_id.is_(None)),
            Webhook.session_id.in_(sessions),
        ))))
        bodies = ((w, e, render(w.format, e.raw)) for e in events for w in webhooks if matches(w, e))
        rows = [{"webhook_id": w.id, "event_id": e.event_id, "event": e.event, "payload": body,
                 "status": DeliveryStatus.PENDING, "attempts": 0, "next_attempt_at": now,
                 "created_at": now, "updated_at": now}
                for w, e, body in bodies if body is not None]
        if not rows:
            return 0
        await db.execute(_insert_ignoring_duplicates(db.get_bind().dialect.name, rows))
        untried = (await db.execute(
            select(WebhookDelivery.id).where(
                WebhookDelivery.event_id.in_({e.event_id for e in events}),
                WebhookDelivery.webhook_id.in_({w.id for w in webhooks}),
                WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.attempts == 0)
        )).scalars().all()
    return await enqueue_attempts(redis, [DueAttempt(delivery_id, 1) for delivery_id in untried])


async def process(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings,
                  entries: Sequence[Any]) -> int:
    """Fan out stream entries, then acknowledge them (unreadable entries too: no retry could read them)."""
    events, bad = parse_entries(entries)
    if bad:
        log.warning("unreadable event stream entries skipped", entries=bad[:10], count=len(bad))
    enqueued = await fan_out(db_factory, redis, settings, events)
    ids = [e.entry_id for e in events] + bad
    if ids:
        await redis.xack(EVENT_STREAM, GROUP, *ids)
    return enqueued


async def read_new(redis: Redis, consumer: str, *, count: int = BATCH, block_ms: int | None = BLOCK_MS) -> list[Any]:
    answer = await redis.xreadgroup(GROUP, consumer, {EVENT_STREAM: ">"}, count=count, block=block_ms)
    return answer[0][1] if answer else []


async def read_own_pending(redis: Redis, consumer: str, *, count: int = BATCH) -> list[Any]:
    """Entries this reader took and has not acknowledged: those of a batch that failed (the database away)."""
    answer = await redis.xreadgroup(GROUP, consumer, {EVENT_STREAM: "0"}, count=count)
    return answer[0][1] if answer else []


async def claim_from_gone(redis: Redis, consumer: str) -> list[Any]:
    """Entries of readers certainly gone (killed on this host: their PID runs no more), now this reader's.

    A worker restarted after a SIGKILL so takes over its predecessor's unacknowledged batch at once instead of
    a lease later; the gone readers are struck off the group."""
    claimed: list[Any] = []
    for info in await redis.xinfo_consumers(EVENT_STREAM, GROUP):
        name = info["name"].decode() if isinstance(info["name"], bytes) else str(info["name"])
        if name == consumer or not holder_is_gone(name):
            continue
        while pending := await redis.xpending_range(EVENT_STREAM, GROUP, min="-", max="+", count=BATCH,
                                                    consumername=name):
            entries = await redis.xclaim(EVENT_STREAM, GROUP, consumer, min_idle_time=0,
                                         message_ids=[p["message_id"] for p in pending])
            claimed += [e for e in entries if e[1] is not None]
        await redis.xgroup_delconsumer(EVENT_STREAM, GROUP, name)
    return claimed


async def claim_stale(redis: Redis, consumer: str, *, min_idle_ms: int, count: int = BATCH) -> list[Any]:
    """Entries other readers took and never acknowledged (they died), now this reader's."""
    claimed: list[Any] = []
    start = "0-0"
    while True:
        answer = await redis.xautoclaim(EVENT_STREAM, GROUP, consumer, min_idle_ms, start_id=start, count=count)
        start, entries = answer[0], [e for e in answer[1] if e[1] is not None]
        claimed.extend(entries)
        if start in (b"0-0", "0-0") or len(claimed) >= count:
            return claimed


async def run_reader(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings,
                     *, consumer: str | None = None, block_ms: int = BLOCK_MS,
                     stop: asyncio.Event | None = None) -> None:
    """The worker's long-lived fan-out loop, until `stop` is set (between batches) or it is cancelled.

    Errors are logged and retried after a pause, starting with the entries of the batch that failed."""
    stop = stop or asyncio.Event()
    consumer = consumer or consumer_name()
    claim_idle_ms = round(settings.job_lease_s * 1000)
    claim_every_s = settings.job_lease_s / CLAIM_CHECKS_PER_LEASE
    log.info("webhook fan-out started", consumer=consumer)
    last_claim = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            await ensure_group(redis)
            while not stop.is_set() and (own := await read_own_pending(redis, consumer)):
                await process(db_factory, redis, settings, own)
            if orphaned := await claim_from_gone(redis, consumer):
                log.info("webhook fan-out claimed the entries of a reader that is gone", count=len(orphaned))
                await process(db_factory, redis, settings, orphaned)
            while not stop.is_set():
                if loop.time() - last_claim >= claim_every_s:
                    last_claim = loop.time()
                    if stale := await claim_stale(redis, consumer, min_idle_ms=claim_idle_ms):
                        log.info("webhook fan-out claimed stale entries", count=len(stale))
                        await process(db_factory, redis, settings, stale)
                if entries := await read_new(redis, consumer, block_ms=block_ms):
                    await process(db_factory, redis, settings, entries)
        except asyncio.CancelledError:
            log.info("webhook fan-out stopped", consumer=consumer)
            raise
        except (RedisError, SQLAlchemyError, OSError) as exc:
            # NOGROUP after a Redis flush or restart lands here too: the next round creates the group again.
            log.warning("webhook fan-out paused", error=f"{type(exc).__name__}: {exc}"[:300])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await stop.wait()
    log.info("webhook fan-out stopped", consumer=consumer)
