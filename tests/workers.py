"""Real arq workers (worker, bridge) run inside a test's event loop, and stopped without losing their shutdown."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from arq import Worker

STOP_TIMEOUT_S = 30.0


@dataclass
class InLoopWorker:
    worker: Worker
    task: asyncio.Task[None]

    async def stop(self) -> None:
        """Let running jobs finish, then close (on_shutdown runs), however arq's close() behaves.

        arq's close() cancels running jobs and gathers them without return_exceptions, so a job in flight
        makes it raise CancelledError before on_shutdown: the process's resources (database connections and
        their row locks, Redis connections) would stay open behind the test.
        """
        self.worker.allow_pick_jobs = False
        running = [t for t in self.worker.tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=10)
        closing = asyncio.ensure_future(self._close())
        try:
            # Bounded: a shutdown that never ends must fail this test's teardown, naming where it waits, not
            # hang the whole suite.
            done, _ = await asyncio.wait({closing}, timeout=STOP_TIMEOUT_S)
            if not done:
                stuck = _task_stacks()
                closing.cancel()
                await asyncio.gather(closing, return_exceptions=True)
                raise AssertionError(f"the worker's shutdown did not end within {STOP_TIMEOUT_S:.0f} s; "
                                     f"the tasks then:\n{stuck}")
            closing.result()
        finally:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _close(self) -> None:
        try:
            await self.worker.close()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            self.worker.tasks.clear()
            await self.worker.close()


def _task_stacks() -> str:
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.print_stack(limit=12, file=out)
    return out.getvalue()


async def start_in_loop(worker: Worker, ready: Callable[[Worker], bool] | None = None,
                        timeout_s: float = 10.0) -> InLoopWorker:
    """Run `worker` in this loop; with `ready`, wait until its startup got that far."""
    handle = InLoopWorker(worker, asyncio.create_task(worker.async_run()))
    if ready is not None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not ready(worker):
            if handle.task.done():
                handle.task.result()  # startup failed: raise its error here
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("worker did not start")
            await asyncio.sleep(0.02)
    return handle


@asynccontextmanager
async def running_in_loop(worker: Worker, ready: Callable[[Worker], bool] | None = None) -> AsyncIterator[Worker]:
    handle = await start_in_loop(worker, ready)
    try:
        yield worker
    finally:
        await handle.stop()
