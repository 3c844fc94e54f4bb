"""Webhook delivery: one signed POST per attempt, its outcome stored, the next attempt scheduled, lost jobs swept.

A delivery row is the truth; an arq job (`deliver_webhook`, id `webhook:<delivery>:<attempt>`) only says
"try attempt N now". Attempt N is claimed with a conditional UPDATE (attempts = N-1 → N, status delivering,
a lease in next_attempt_at), so two jobs for one attempt never both POST. The outcome and the attempt row commit
together; a retry is re-enqueued deferred, and the sweep cron re-enqueues any due row whose job Redis lost.

Outcomes: 2xx delivered; 4xx other than 408/429 (and a refused destination) failed; anything else, a timeout or
a connection error is retried after the schedule's next gap, unless that falls past the horizon counted from
the delivery's creation (when it was fanned out): then exhausted. Delivery is at least once: a worker killed
after the receiver answered but before the commit retries the attempt; receivers dedupe on X-WAGate-Delivery.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import aiohttp
import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms, to_unix_ms
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from yarl import URL

from wagate import __version__
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus, SignatureScheme
from wagate.db.models_delivery import Webhook, WebhookDelivery
from wagate.db.outage import when_reachable
from wagate.db.types import utcnow
from wagate.observability import metrics
from wagate.queue.names import WORKER_QUEUE
from wagate.services.webhooks import secrets_box
from wagate.services.webhooks.records import AttemptRecord, AttemptRecords
from wagate.services.webhooks.ssrf import DestinationRefused, check_url

log = structlog.get_logger("wagate.webhooks")

DELIVER_JOB = "deliver_webhook"
USER_AGENT = f"WA-Gate/{__version__}"
# A claimed attempt that neither finished nor failed within the timeout plus this is taken over by the sweep.
LEASE_MARGIN_S = 30
# The sweep leaves rows due for less than this alone: their job is normally just about to run.
SWEEP_GRACE_S = 15
SWEEP_LIMIT = 1000
# A delivery still not attempted this long after it was due is late: the worker's watchdog reports it.
LATE_AFTER_S = 120
ERROR_MAX = 500  # characters of an error kept per attempt


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    RETRY = "retry"
    EXHAUSTED = "exhausted"
    SKIPPED = "skipped"  # not due, already done, or another job holds the attempt
    BUSY = "busy"  # the receiver's host has its concurrency in use: try again shortly, nothing claimed


def job_id(delivery_id: int, attempt: int) -> str:
    return f"webhook:{delivery_id}:{attempt}"


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """HMAC-SHA256 hex of "<timestamp>.<body>" (wagate scheme) or of the body alone (compat, timestamp None)."""
    message = body if timestamp is None else str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(scheme: SignatureScheme, secret: str, body: bytes, event: str, delivery_id: int | str,
                   timestamp: int) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WAGate-Event": event,
        "X-WAGate-Delivery": str(delivery_id),
        "X-WAGate-Timestamp": str(timestamp),
    }
    if scheme == SignatureScheme.COMPAT:
        headers["Signature"] = signature(secret, body)
    else:
        headers["X-WAGate-Signature"] = "sha256=" + signature(secret, body, timestamp)
    return headers


def retry_gap(settings: Settings, attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempts` (1-based): fast gaps with jitter, then slow ones."""
    fast, slow = settings.webhook_retry_fast_s, settings.webhook_retry_slow_s
    if attempts <= len(fast):
        gap = fast[attempts - 1]
        return gap + (rng or random).uniform(0, gap * settings.webhook_retry_jitter)
    return slow[min(attempts - len(fast) - 1, len(slow) - 1)]


@dataclass(frozen=True, slots=True)
class DueAttempt:
    delivery_id: int
    attempt: int  # the attempt number the job will make
    at: datetime | None = None  # None: now


async def enqueue_attempts(redis: ArqRedis, due: Sequence[DueAttempt]) -> int:
    """Enqueue delivery jobs in one pipeline, idempotently (SET NX, ZADD NX, as the send outbox does)."""
    if not due:
        return 0
    now_ms = timestamp_ms()
    async with redis.pipeline(transaction=False) as pipe:
        for item in due:
            jid = job_id(item.delivery_id, item.attempt)
            score = max(to_unix_ms(item.at), now_ms) if item.at else now_ms
            payload = serialize_job(DELIVER_JOB, (item.delivery_id,), {}, None, now_ms, serializer=redis.job_serializer)
            pipe.set(job_key_prefix + jid, payload, px=score - now_ms + redis.expires_extra_ms, nx=True)
            pipe.zadd(WORKER_QUEUE, {jid: score}, nx=True)
        results = await pipe.execute()
    return sum(1 for created in results[::2] if created)


class HostSlots:
    """Per-host concurrency in one worker: a dead receiver holds at most `limit` job slots POSTing, plus `waiting`
    jobs waiting for one, never all of them.

    A job whose host is at its limit waits here (an asyncio future, no query) for up to `wait_s`, and gets the
    slot of the first POST to finish; before, it went back to the queue and read its row again each time, which
    at a steady stream to one receiver made several job runs per delivery. Only when `waiting` jobs already wait
    for the host, or the wait ends, is the job sent back to the queue (`Outcome.BUSY`).
    """

    def __init__(self, limit: int, waiting: int = 0) -> None:
        self.limit = limit
        self.waiting = waiting
        self.in_use: dict[str, int] = {}
        self._waiters: dict[str, deque[asyncio.Future[None]]] = {}

    def try_acquire(self, host: str) -> bool:
        if self.in_use.get(host, 0) >= self.limit:
            return False
        self.in_use[host] = self.in_use.get(host, 0) + 1
        return True

    async def acquire(self, host: str, wait_s: float = 0.0) -> bool:
        """A slot for `host`, waiting up to `wait_s` for one; False when none came (or too many wait already)."""
        if self.try_acquire(host):
            return True
        waiters = self._waiters.setdefault(host, deque())
        if len(waiters) >= self.waiting or wait_s <= 0:
            return False
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(handed)
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(handed)
        except TimeoutError:
            pass
        except BaseException:
            if handed.done() and not handed.cancelled():
                self.release(host)  # handed over just as this job was cancelled: pass it on
            raise
        finally:
            if not handed.done():
                handed.cancel()
                waiters.remove(handed)
            if not waiters:
                self._waiters.pop(host, None)
        return handed.done() and not handed.cancelled()

    def release(self, host: str) -> None:
        """Hand the slot to the longest waiting job of the host, or free it."""
        waiters = self._waiters.get(host)
        while waiters:
            handed = waiters.popleft()
            if not handed.done():
                handed.set_result(None)  # the slot stays counted in `in_use`: it changes hands
                return
        left = self.in_use.get(host, 1) - 1
        if left:
            self.in_use[host] = left
        else:
            self.in_use.pop(host, None)


@dataclass(slots=True)
class Result:
    status_code: int | None = None
    error: str | None = None
    refused: bool = False
    duration_ms: int = 0


async def post(http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], timeout_s: float,
               *, allow_private: bool) -> Result:
    """One POST through the guarded connector; never raises for what a receiver or the network does."""
    started = time.perf_counter()
    result = Result()
    try:
        check_url(url, allow_private=allow_private)
        async with http.post(url, data=body, headers=headers, allow_redirects=False,
                             timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            result.status_code = response.status
            text = (await response.content.read(ERROR_MAX)).decode(errors="replace")
            if not 200 <= response.status < 300:
                result.error = f"HTTP {response.status}: {text}"[:ERROR_MAX]
    except DestinationRefused as exc:
        result.error, result.refused = str(exc), True
    except aiohttp.ClientConnectorError as exc:
        result.refused = isinstance(exc.os_error, DestinationRefused)
        result.error = str(exc.os_error if result.refused else exc)[:ERROR_MAX]
    except TimeoutError:
        result.error = f"timed out after {timeout_s:g} s"
    except (aiohttp.ClientError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX]
    result.duration_ms = round((time.perf_counter() - started) * 1000)
    return result


def classify(result: Result) -> Outcome:
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return Outcome.DELIVERED
    if result.refused or (code is not None and 400 <= code < 500 and code not in (408, 429)):
        return Outcome.FAILED
    return Outcome.RETRY


@dataclass(slots=True)
class Delivery:
    """What one worker process needs to deliver: settings, database, Redis, the shared client, host slots."""

    settings: Settings
    db: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    http: aiohttp.ClientSession
    slots: HostSlots
    records: AttemptRecords = field(init=False)

    def __post_init__(self) -> None:
        self.records = AttemptRecords(self.db)

    async def attempt(self, delivery_id: int, rerun_of: int | None = None) -> Outcome:
        """Make the delivery's next attempt if it is due and unclaimed; store it and schedule what follows.

        `rerun_of`: the attempt number of a job arq runs again (its earlier run was cut off: its process was
        killed or stopped). A claim of that very attempt is then the earlier run's, and nobody POSTs for it any
        more, so it is taken over at once instead of after its lease and the sweep's grace (a minute or more).
        """
        now = utcnow()
        async with self.db() as db:
            row = (await db.execute(
                select(WebhookDelivery.attempts, WebhookDelivery.status, WebhookDelivery.next_attempt_at,
                       WebhookDelivery.created_at, WebhookDelivery.payload, WebhookDelivery.event,
                       Webhook.id, Webhook.url, Webhook.secret_encrypted, Webhook.signature_scheme)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id == delivery_id)
            )).one_or_none()
        if row is None:
            return Outcome.SKIPPED
        seen, status, next_at, created_at, payload, event, webhook_id, url, secret_token, scheme = row
        taken_over = status == DeliveryStatus.DELIVERING and rerun_of is not None and seen == rerun_of
        leased = status == DeliveryStatus.DELIVERING and next_at is not None and (next_at <= now or taken_over)
        if status != DeliveryStatus.PENDING and not leased:
            return Outcome.SKIPPED
        if next_at is not None and next_at > now + timedelta(seconds=1) and not taken_over:
            return Outcome.SKIPPED  # an early job (a redelivery raced it); the due one or the sweep comes later
        host = (URL(url).host or "").lower()
        if not await self.slots.acquire(host, self.settings.webhook_timeout_s):
            return Outcome.BUSY
        try:
            return await self._claimed_attempt(delivery_id, seen, status, utcnow(), created_at, payload, event,
                                               webhook_id, url, secret_token, scheme, host)
        finally:
            self.slots.release(host)

    async def _claimed_attempt(self, delivery_id: int, seen: int, status: DeliveryStatus, now: datetime,
                               created_at: datetime, payload: str, event: str, webhook_id: int, url: str,
                               secret_token: str | None, scheme: SignatureScheme, host: str) -> Outcome:
        settings = self.settings
        attempt = seen + 1
        lease = now + timedelta(seconds=settings.webhook_timeout_s + LEASE_MARGIN_S)
        async with self.db() as db, db.begin():
            claimed = await db.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.attempts == seen,
                       WebhookDelivery.status == status)
                .values(attempts=attempt, status=DeliveryStatus.DELIVERING, next_attempt_at=lease)
            )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome.SKIPPED
        body = payload.encode()
        try:
            secret = secrets_box.decrypt(settings.encryption_key, secret_token or "")
        except secrets_box.SecretUnreadable as exc:
            result = Result(error=str(exc), refused=True)
        else:
            headers = signed_headers(scheme, secret, body, event, delivery_id, int(time.time()))
            result = await post(self.http, url, body, headers, settings.webhook_timeout_s,
                                allow_private=settings.webhook_allow_private)
        outcome = classify(result)
        next_at: datetime | None = None
        if outcome is Outcome.RETRY:
            gap = retry_gap(settings, attempt)
            next_at = utcnow() + timedelta(seconds=gap)
            if next_at > created_at + timedelta(hours=settings.webhook_horizon_h):
                outcome, next_at = Outcome.EXHAUSTED, None
        status_after = {Outcome.DELIVERED: DeliveryStatus.DELIVERED, Outcome.FAILED: DeliveryStatus.FAILED,
                        Outcome.RETRY: DeliveryStatus.PENDING, Outcome.EXHAUSTED: DeliveryStatus.EXHAUSTED}[outcome]

        record = AttemptRecord(delivery_id, attempt, status_after, next_at, result.status_code, result.error,
                               result.duration_ms)

        async def store() -> None:
            await self.records.write(record)

        # The receiver has had its POST: an outcome the database refuses is retried until shortly before the lease
        # ends (and the job's timeout, which started a moment before the claim), as the sweep POSTs it again then.
        await when_reachable(store, patience_s=(lease - utcnow()).total_seconds() - LEASE_MARGIN_S / 3, log=log,
                             what="webhook attempt not stored", delivery_id=delivery_id, attempt=attempt)
        log.info("webhook attempt", delivery_id=delivery_id, webhook_id=webhook_id, webhook_event=event,
                 attempt=attempt, host=host, status_code=result.status_code, duration_ms=result.duration_ms,
                 outcome=outcome.value, error=result.error)
        metrics.observe_webhook(outcome.value, result.duration_ms / 1000)
        if next_at is not None:
            try:
                await enqueue_attempts(self.redis, [DueAttempt(delivery_id, attempt + 1, next_at)])
            except Exception:  # noqa: BLE001 - Redis down: the row is pending and due, so the sweep enqueues it
                log.warning("webhook retry not enqueued; the sweep will", delivery_id=delivery_id, exc_info=True)
        return outcome


async def sweep_deliveries(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, *,
                           grace_s: float = SWEEP_GRACE_S, limit: int = SWEEP_LIMIT) -> int:
    """Re-enqueue due deliveries (pending, or delivering past their lease) whose next job Redis does not hold."""
    now = utcnow()
    async with db_factory() as db:
        rows = (await db.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts)
            .where(WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.DELIVERING]),
                   WebhookDelivery.next_attempt_at <= now - timedelta(seconds=grace_s))
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )).all()
    if not rows:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id, attempts in rows:
            jid = job_id(delivery_id, attempts + 1)
            pipe.exists(job_key_prefix + jid, in_progress_key_prefix + jid)
        found = await pipe.execute()
    missing = [DueAttempt(delivery_id, attempts + 1)
               for (delivery_id, attempts), exists in zip(rows, found, strict=True) if not exists]
    enqueued = await enqueue_attempts(redis, missing)
    if enqueued:
        log.info("webhook sweep re-enqueued deliveries", count=enqueued, first_delivery_id=missing[0].delivery_id)
    return enqueued




async def count_late(db_factory: async_sessionmaker[AsyncSession], late_after_s: float = LATE_AFTER_S) -> int:
    """Deliveries due (pending, or delivering past their lease) more than `late_after_s` ago."""
    async with db_factory() as db:
        return int(await db.scalar(
            select(func.count()).select_from(WebhookDelivery)
            .where(WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.DELIVERING]),
                   WebhookDelivery.next_attempt_at <= utcnow() - timedelta(seconds=late_after_s))
        ) or 0)
