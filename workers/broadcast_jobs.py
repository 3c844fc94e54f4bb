"""Broadcast jobs of the worker: expand a chunk of recipients into messages; the tick that keeps broadcasts going."""

from __future__ import annotations

from arq.cron import cron
from arq.worker import func

from wagate.queue.jobs import BROADCAST_EXPAND
from wagate.services.broadcasts.progress import expand_chunk, tick
from workers.common import Ctx

# Every 5 s: how late a scheduled broadcast may start, a lost chunk job be replaced, and broadcast.completed
# follow the last send. The tick is a few indexed queries when nothing runs.
TICK_SECONDS = set(range(0, 60, 5))
TICK_TIMEOUT_S = 60


async def broadcast_expand(ctx: Ctx, broadcast_id: int) -> int:
    """Expand the broadcast's next chunk; the job of the chunk after it is enqueued by the expansion itself."""
    chunk = await expand_chunk(ctx["db"], ctx["redis"], ctx["settings"], broadcast_id)
    return chunk.expanded


async def broadcast_tick(ctx: Ctx) -> dict[str, int]:
    """Start due scheduled broadcasts, replace lost chunk jobs, store progress, finish completed broadcasts."""
    return await tick(ctx["db"], ctx["redis"], ctx["settings"])


# keep_result=0: a finished chunk job leaves no result key, which would make arq refuse the same job id (the
# same chunk) for a minute, e.g. a resume right after the job found its broadcast paused.
FUNCTIONS = [func(broadcast_expand, name=BROADCAST_EXPAND, keep_result=0, max_tries=5)]

CRON_JOBS = [
    cron(broadcast_tick, name="cron:broadcast_tick", second=TICK_SECONDS, run_at_startup=True,
         timeout=TICK_TIMEOUT_S, keep_result=0),
]
