"""A running job's mark is a lease its process renews: a live job keeps it, a SIGKILLed process's job runs again soon.

arq alone marks a job for the queue's longest timeout + 10 s (130 s here) and never renews the mark, so a job
whose process died waited that long. Real worker processes (tests.observability.slow_worker) on the suite's
Valkey, with JOB_LEASE_S=5.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job

from tests.bridge.conftest import until
from tests.fixtures import make_settings
from tests.observability.processes import Child
from tests.observability.slow_worker import finished_key, started_key
from tests.observability.test_shutdown import QUEUE, _exists, consuming, slow_worker, tries
from wagate.config import Settings
from wagate.web.app import redis_client

pytestmark = pytest.mark.slow
LEASE_S = 5


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    # The slow worker opens no database connection: an empty SQLite file stands in.
    return make_settings(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", REDIS_URL=redis_url)


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[ArqRedis]:
    client = redis_client(settings.redis_url or "")
    yield client
    await client.aclose(close_connection_pool=True)


async def started(queue: ArqRedis, seconds: float, tag: str) -> Job:
    """A slow job, once a worker has started it."""
    job = await queue.enqueue_job("slow", seconds, tag, _queue_name=QUEUE)
    assert job is not None
    await until(lambda: _exists(queue, started_key(tag)), timeout=10, what="the job to start")
    return job


def leased_worker(settings: Settings, tmp_path: Path, name: str) -> Child:
    child = slow_worker(settings, tmp_path, name, grace=1)
    child.env["JOB_LEASE_S"] = str(LEASE_S)
    return child


@contextlib.asynccontextmanager
async def two_workers(settings: Settings, tmp_path: Path, queue: ArqRedis) -> AsyncIterator[list[Child]]:
    workers = [leased_worker(settings, tmp_path, f"worker-{n}").start() for n in (1, 2)]
    try:
        await consuming(queue)
        yield workers
    finally:
        for worker in workers:
            worker.stop()


async def test_a_live_job_longer_than_its_lease_runs_once_with_a_second_worker_polling(
    settings: Settings, queue: ArqRedis, tmp_path: Path,
) -> None:
    async with two_workers(settings, tmp_path, queue):
        job = await started(queue, 3.0 * LEASE_S, "long")
        mark = f"arq:in-progress:{job.job_id}"
        assert 0 < await queue.pttl(mark) <= LEASE_S * 1000  # the lease, not arq's 130 s
        assert await job.result(timeout=4 * LEASE_S) == "long"
        # Three leases long: without renewals the other worker (or the same one) would have started it again.
        assert await tries(queue, started_key("long")) == [b"1"]
        assert await tries(queue, finished_key("long")) == [b"1"]


def running_it(workers: list[Child], job_id: str) -> Child:
    """The worker whose output says it started the job (arq logs "→ <job id>:slow")."""
    holders = [w for w in workers if f"{job_id}:slow" in w.output()]
    assert len(holders) == 1, [w.log_path.name for w in holders]
    return holders[0]


async def test_the_job_of_a_sigkilled_worker_runs_on_a_live_one_within_one_lease(
    settings: Settings, queue: ArqRedis, tmp_path: Path,
) -> None:
    async with two_workers(settings, tmp_path, queue) as workers:
        job = await started(queue, 60.0, "killed")
        running_it(workers, job.job_id).stop()  # SIGKILL
        killed = time.monotonic()
        assert await job.result(timeout=LEASE_S + 10) == "killed"
        rerun_after = time.monotonic() - killed
        print(f"the killed worker's job finished on the other {rerun_after:.2f} s after the kill")
        assert await tries(queue, started_key("killed")) == [b"1", b"2"]
        assert await tries(queue, finished_key("killed")) == [b"2"]


async def test_a_worker_restarted_after_a_sigkill_runs_the_killed_ones_job_at_once(
    settings: Settings, queue: ArqRedis, tmp_path: Path,
) -> None:
    """The replacement finds the killed process gone (same host, its PID no longer running) and releases the
    marks it left, instead of waiting a minute for them to lapse."""
    first = leased_worker(settings, tmp_path, "worker-1")
    second = leased_worker(settings, tmp_path, "worker-2")
    for worker in (first, second):
        worker.env["JOB_LEASE_S"] = "60"
    first.start()
    try:
        await consuming(queue)
        job = await started(queue, 120.0, "killed")
        first.stop()  # SIGKILL
        assert await queue.exists(f"arq:in-progress:{job.job_id}") == 1  # the mark the killed one left
        second.start()
        replaced = time.monotonic()
        assert await job.result(timeout=30) == "killed"
        print(f"the killed worker's job finished {time.monotonic() - replaced:.2f} s after its replacement started")
        assert await tries(queue, started_key("killed")) == [b"1", b"2"]
        assert "jobs of a consumer that is gone released" in second.output()
    finally:
        first.stop()
        second.stop()
