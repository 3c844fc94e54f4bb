"""Webhook work in the worker process: the fan-out reader task, the delivery job and the sweep cron.

The fan-out reader is a long-lived task started in on_startup rather than a cron: XREADGROUP with BLOCK hands
it an event within milliseconds of its XADD, where an arq cron runs at most once a second and costs a job
per run even when the stream is idle. Each worker process reads as its own consumer of one group, so several
workers share the stream, and one that dies leaves its unacknowledged entries to be claimed by the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import aiohttp
import structlog
from arq import Retry
from arq.cron import cron
from arq.worker import func

from wagate.db.outage import UNREACHABLE
from wagate.observability import stalls
from wagate.services import event_outbox
from wagate.services.webhooks import delivery, fanout
from wagate.services.webhooks.delivery import DELIVER_JOB, Delivery, HostSlots, Outcome
from wagate.services.webhooks.ssrf import GuardedResolver
from workers.common import Ctx

log = structlog.get_logger("wagate.webhooks")

SWEEP_TIMEOUT_S = 50  # below the one-minute period, so sweeps never overlap
SWEEP_KEEP_S = 150  # a late delivery stays in health for two and a half sweeps: until a sweep finds it gone
# A job whose receiver host is at its concurrency limit waits in the worker for a slot (see HostSlots), at most
# this many jobs per host: of the worker's 50 job slots, 8 POSTing and 30 waiting leave 12 for other hosts.
HOST_WAITERS = 30
# A job that found its host busy and too many jobs waiting for it comes back after about this long.
BUSY_DEFER_S = 0.5
# A job that found the database unreachable comes back after this long.
DATABASE_RETRY_S = 2.0


async def startup(ctx: Ctx) -> None:
    """Open the shared HTTP client (guarded resolver, per-host connection limit) and start the fan-out reader."""
    settings = ctx["settings"]
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=settings.webhook_host_concurrency, ttl_dns_cache=10,
        resolver=GuardedResolver(allow_private=settings.webhook_allow_private),
    )
    http = aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                                 auto_decompress=False)
    ctx["webhook_http"] = http
    slots = HostSlots(settings.webhook_host_concurrency, waiting=HOST_WAITERS)
    ctx["webhooks"] = Delivery(settings, ctx["db"], ctx["redis"], http, slots)
    ctx["webhook_fanout_stop"] = stop = asyncio.Event()
    ctx["webhook_fanout"] = asyncio.create_task(
        fanout.run_reader(ctx["db"], ctx["redis"], settings, stop=stop), name="webhook-fanout")


async def shutdown(ctx: Ctx) -> None:
    task: asyncio.Task[None] | None = ctx.pop("webhook_fanout", None)
    if task is not None:
        # Stopped between batches rather than cancelled inside one: a half-done batch is safe, but a finished
        # one is cheaper than its re-read.
        ctx.pop("webhook_fanout_stop").set()
        try:
            await asyncio.wait_for(task, fanout.BLOCK_MS / 1000 + 5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    http: aiohttp.ClientSession | None = ctx.pop("webhook_http", None)
    if http is not None:
        await http.close()


async def deliver_webhook(ctx: Ctx, delivery_id: int) -> str:
    """Make one attempt of a delivery; a busy receiver host sends the job back to the queue instead of waiting.

    So does a database out of reach (a restart): failed, the job would leave its delivery to the next sweep,
    up to a minute and a quarter later."""
    # A try after the first whose job claimed its attempt: that run is gone (killed, or cancelled by a shutdown).
    rerun_of = int(str(ctx["job_id"]).rsplit(":", 1)[1]) if ctx.get("job_try", 1) > 1 else None
    try:
        outcome = await ctx["webhooks"].attempt(delivery_id, rerun_of)
    except UNREACHABLE as exc:
        log.warning("webhook attempt put off: database unreachable", delivery_id=delivery_id,
                    error=type(exc).__name__, retry_in_s=DATABASE_RETRY_S)
        raise Retry(defer=DATABASE_RETRY_S) from exc
    if outcome is Outcome.BUSY:
        raise Retry(defer=BUSY_DEFER_S + random.uniform(0, BUSY_DEFER_S))  # noqa: S311 - spreading, not security
    return outcome.value


async def webhook_sweep(ctx: Ctx) -> int:
    """Re-enqueue due deliveries whose job Redis lost (a restart, a flush, a crash between commit and enqueue).

    It is the deliveries' watchdog too: deliveries left unattempted well past their due time are counted,
    logged as an error and shown in health until a sweep finds none (their jobs, if lost, re-enqueued here)."""
    enqueued = await delivery.sweep_deliveries(ctx["db"], ctx["redis"])
    late = await delivery.count_late(ctx["db"])
    if late:
        await stalls.report(ctx["redis"], stalls.WEBHOOKS_REPORTER, "webhook_late", late, keep_s=SWEEP_KEEP_S,
                            re_enqueued=enqueued, late_after_s=delivery.LATE_AFTER_S)
    return enqueued


async def event_outbox_sweep(ctx: Ctx) -> int:
    """Publish the events a process died holding (stored with their change, never published)."""
    return await event_outbox.sweep(ctx["db"], ctx["redis"])


def functions(timeout_s: float) -> list[object]:
    # max_tries: each Retry for a busy host counts as a try; the real attempts are counted in the database.
    return [func(deliver_webhook, name=DELIVER_JOB, timeout=timeout_s + 30, max_tries=100_000)]


CRON_JOBS = [
    cron(webhook_sweep, name="cron:webhook_sweep", second=30, run_at_startup=True, timeout=SWEEP_TIMEOUT_S),
    cron(event_outbox_sweep, name="cron:event_outbox_sweep", second=15, run_at_startup=True,
         timeout=SWEEP_TIMEOUT_S),
]
