"""The worker process: webhooks, broadcast expansion, scheduled work and cron, on the worker queue."""

from __future__ import annotations

from dataclasses import replace

import structlog
from arq import Worker
from arq.cron import cron

from wagate.config import Settings
from wagate.queue.names import WORKER_QUEUE
from wagate.services.identity.tenants import expire_due
from wagate.services.messaging.outbox import sweep_outbox
from wagate.services.sessions.drivers import mark_orphans
from workers import broadcast_jobs, export_jobs, media_jobs, webhook_jobs
from workers.common import Ctx, build_worker

log = structlog.get_logger("wagate.jobs")

# Below the one-minute period, so a slow sweep (a huge backlog, a slow database) never overlaps the next one.
OUTBOX_SWEEP_TIMEOUT_S = 50


async def outbox_sweep(ctx: Ctx) -> int:
    """Re-enqueue the send jobs of `queued` rows whose job Redis lost (see wagate.services.messaging.outbox)."""
    return await sweep_outbox(ctx["db"], ctx["redis"], ctx["settings"])


async def subscription_expiry(ctx: Ctx) -> dict[str, list[int]]:
    """Expire the tenants whose subscription ended, re-activate the renewed (times in settings.timezone)."""
    run = await expire_due(ctx["db"], ctx["redis"], ctx["settings"].timezone)
    return {"expired": run.expired, "reactivated": run.reactivated}


async def orphan_sweep(ctx: Ctx) -> int:
    """Say in their status reason which sessions no live bridge drives (see wagate.services.sessions.drivers)."""
    orphaned = await mark_orphans(ctx["db"], ctx["redis"])
    if orphaned:
        log.warning("sessions that should run are driven by no live bridge", orphaned=orphaned)
    return orphaned


CRON_JOBS = [
    # Every 15 s: a bridge takes an orphaned session over within about that, so a reason that stays is news.
    cron(orphan_sweep, name="cron:orphan_sweep", second={0, 15, 30, 45}, run_at_startup=True, timeout=14),
    # Every minute, and at start-up: a worker starting after an outage sweeps at once instead of up to 60 s later.
    # unique (the default): with several workers, each minute's sweep runs once.
    cron(outbox_sweep, name="cron:outbox_sweep", second=0, run_at_startup=True, timeout=OUTBOX_SWEEP_TIMEOUT_S),
    # Seed 001: every minute (WIB, though a minutely schedule is the same in every zone); at start-up too, so a
    # worker back from an outage expires at once. unique: one run per minute however many workers there are.
    cron(subscription_expiry, name="cron:subscription_expiry", second=0, run_at_startup=True,
         timeout=OUTBOX_SWEEP_TIMEOUT_S),
    *webhook_jobs.CRON_JOBS,
    *broadcast_jobs.CRON_JOBS,
    *media_jobs.CRON_JOBS,
]


async def on_startup(ctx: Ctx) -> None:
    await webhook_jobs.startup(ctx)
    await export_jobs.startup(ctx)


async def on_shutdown(ctx: Ctx) -> None:
    await export_jobs.shutdown(ctx)
    await webhook_jobs.shutdown(ctx)


def create_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    # Fresh copies: arq keeps each CronJob's next run on the object, so a second Worker in one process (tests,
    # a restart) sharing these would skip its run_at_startup runs.
    functions = [*webhook_jobs.functions(settings.webhook_timeout_s), *broadcast_jobs.FUNCTIONS]
    return build_worker(settings, queue_name=WORKER_QUEUE, functions=functions,
                        cron_jobs=[replace(job, next_run=None) for job in CRON_JOBS], on_startup=on_startup,
                        on_shutdown=on_shutdown,
                        handle_signals=handle_signals)
