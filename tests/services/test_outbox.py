"""The outbox sweep against real SQLite, MariaDB and Valkey: it re-enqueues exactly the rows whose job is lost."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq import Worker, func
from arq.connections import ArqRedis, RedisSettings
from arq.constants import in_progress_key_prefix

from tests.fixtures import make_settings
from tests.services.conftest import Rows, queued_job_ids
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.queue.jobs import SEND_MESSAGE, enqueue_send
from wagate.queue.names import bridge_queue, shard_of
from wagate.services.messaging.outbox import SendJob, enqueue_sends, sweep_outbox
from workers.worker import CRON_JOBS, create_worker

SHARDS = 4


@pytest.fixture
def sharded(settings: Settings) -> Settings:
    return settings.replace(bridge_shards=SHARDS)


async def add_row(db: Any, session_id: str, *, age_s: float = 120, status: MessageStatus = MessageStatus.QUEUED,
                  direction: Direction = Direction.OUTBOUND, send_at: datetime | None = None) -> int:
    """A message row last touched `age_s` seconds ago (as if its commit and its lost enqueue were that long ago)."""
    touched = utcnow() - timedelta(seconds=age_s)
    async with db() as s, s.begin():
        row = Message(session_id=session_id, direction=direction, recipient="6281234567890", body="hi",
                      status=status, send_at=send_at, created_at=touched, updated_at=touched)
        s.add(row)
        await s.flush()
        return row.id


def all_ids(jobs: dict[int, list[str]]) -> set[str]:
    return {job_id for ids in jobs.values() for job_id in ids}


async def test_the_sweep_enqueues_exactly_the_rows_whose_job_is_lost(db: Any, arq_redis: ArqRedis,
                                                                     sharded: Settings, rows: Rows) -> None:
    await rows.session("a")
    await rows.session("b")
    lost_a = await add_row(db, "a")
    lost_b = await add_row(db, "b")
    due_scheduled = await add_row(db, "a", send_at=utcnow() - timedelta(minutes=1))
    with_job = await add_row(db, "a")
    await enqueue_send(arq_redis, SHARDS, "a", with_job)
    running = await add_row(db, "b")
    await arq_redis.set(in_progress_key_prefix + f"send:{running}", b"1")  # arq's mark of a job being run
    await add_row(db, "a", age_s=5)  # fresh: its web process may be enqueueing it right now
    await add_row(db, "a", send_at=utcnow() + timedelta(hours=1))  # scheduled, not due
    for status in (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.FAILED):
        await add_row(db, "a", status=status)
    await add_row(db, "a", direction=Direction.INBOUND)

    assert await sweep_outbox(db, arq_redis, sharded) == 3

    jobs = await queued_job_ids(arq_redis, SHARDS)
    assert all_ids(jobs) == {f"send:{i}" for i in (lost_a, lost_b, due_scheduled, with_job)}
    assert f"send:{lost_b}" in jobs[shard_of("b", SHARDS)]  # each on its session's shard
    assert await sweep_outbox(db, arq_redis, sharded) == 0  # their jobs exist now


async def test_the_sweep_honours_its_limit_and_staleness(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                         rows: Rows) -> None:
    await rows.session("a")
    ids = [await add_row(db, "a", age_s=60) for _ in range(5)]

    assert await sweep_outbox(db, arq_redis, sharded, stale_after_s=90) == 0
    assert await sweep_outbox(db, arq_redis, sharded, limit=2) == 2
    assert all_ids(await queued_job_ids(arq_redis, SHARDS)) == {f"send:{i}" for i in ids[:2]}
    assert await sweep_outbox(db, arq_redis, sharded) == 3


async def test_the_sweep_skips_rows_of_deleted_sessions(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                        rows: Rows) -> None:
    async with db() as s, s.begin():
        s.add(Message(session_id=None, direction=Direction.OUTBOUND, body="orphan", status=MessageStatus.QUEUED,
                      updated_at=utcnow() - timedelta(minutes=5)))
    assert await sweep_outbox(db, arq_redis, sharded) == 0


async def test_pipelined_jobs_are_idempotent_and_run_by_a_real_arq_consumer(arq_redis: ArqRedis, redis_url: str
                                                                             ) -> None:
    later = utcnow() + timedelta(hours=1)
    await enqueue_send(arq_redis, SHARDS, "a", 1)
    assert await enqueue_sends(arq_redis, SHARDS, [SendJob("a", 1), SendJob("a", 2), SendJob("b", 3, later)]) == 2
    assert await enqueue_sends(arq_redis, SHARDS, [SendJob("a", 2), SendJob("b", 3)]) == 0
    later_score = await arq_redis.zscore(bridge_queue(shard_of("b", SHARDS)), "send:3")
    assert later_score == pytest.approx(later.timestamp() * 1000, abs=2)  # the second call kept the deferral

    woken: list[tuple[str, int]] = []

    async def send_message(ctx: dict[str, Any], session_id: str, message_id: int) -> None:
        woken.append((session_id, message_id))

    queue = bridge_queue(shard_of("a", SHARDS))
    worker = Worker(functions=[func(send_message, name=SEND_MESSAGE)], queue_name=queue, burst=True,
                    redis_settings=RedisSettings.from_dsn(redis_url), handle_signals=False, poll_delay=0.01)
    try:
        await worker.main()
    finally:
        await worker.close()
    assert sorted(woken) == [("a", 1), ("a", 2)]


async def test_the_worker_runs_the_sweep_every_minute(tmp_path: Path) -> None:
    [job] = [j for j in CRON_JOBS if j.name == "cron:outbox_sweep"]  # beside the webhook sweep
    assert job.name == "cron:outbox_sweep" and job.unique and job.run_at_startup
    assert (job.second, job.minute, job.hour) == (0, None, None)  # second 0 of every minute
    # Building a worker connects to nothing (the URL is unreachable); async: arq takes the running loop.
    worker = create_worker(make_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9"), handle_signals=False)
    assert "cron:outbox_sweep" in [c.name for c in worker.cron_jobs]
