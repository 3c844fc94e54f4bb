"""Event export in the worker process: the long-lived loop that runs the readers of the exports this worker leases.

A task started in on_startup, like webhook fan-out, for the same reason: XREADGROUP with BLOCK hands a reader an
event within milliseconds of its XADD.
"""

from __future__ import annotations

import asyncio
import contextlib

from wagate.services.exports import runner
from workers.common import Ctx


async def startup(ctx: Ctx) -> None:
    ctx["exports_stop"] = stop = asyncio.Event()
    ctx["exports"] = asyncio.create_task(runner.run_exports(ctx["db"], ctx["redis"], ctx["settings"], stop=stop),
                                         name="event-exports")


async def shutdown(ctx: Ctx) -> None:
    task: asyncio.Task[None] | None = ctx.pop("exports", None)
    if task is None:
        return
    # Stopped between batches: each reader finishes its batch (published and acknowledged) before it ends.
    ctx.pop("exports_stop").set()
    try:
        await asyncio.wait_for(task, runner.STOP_WAIT_S + 5)
    except (TimeoutError, asyncio.CancelledError):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
