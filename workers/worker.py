"""The worker process: webhooks, broadcast expansion, scheduled work and cron, on the worker queue."""

from __future__ import annotations

from arq import Worker
from arq.cron import cron

from wagate.config import Settings
from wagate.queue.names import WORKER_QUEUE
from wagate.services.outbox import sweep_outbox
from workers.common import Ctx, build_worker

# Below the one-minute period, so a slow sweep (a huge backlog, a slow database) never overlaps the next one.
OUTBOX_SWEEP_TIMEOUT_S = 50


async def outbox_sweep(ctx: Ctx) -> int:
    """Re-enqueue the send jobs of `queued` rows whose job Redis lost (see wagate.services.outbox)."""
    return await sweep_outbox(ctx["db"], ctx["redis"], ctx["settings"])


CRON_JOBS = [
    # Every minute, and at start-up: a worker starting after an outage sweeps at once instead of up to 60 s later.
    # unique (the default): with several workers, each minute's sweep runs once.
    cron(outbox_sweep, name="cron:outbox_sweep", second=0, run_at_startup=True, timeout=OUTBOX_SWEEP_TIMEOUT_S),
]


def create_worker(settings: Settings, *, handle_signals: bool = True) -> Worker:
    return build_worker(settings, queue_name=WORKER_QUEUE, functions=[], cron_jobs=CRON_JOBS,
                        handle_signals=handle_signals)
