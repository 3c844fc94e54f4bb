"""Every log line of a job run carries its job id: the lines its function logs and the run's summary line.

A real arq consumer (workers.common.build_worker) in the test's loop on the suite's Valkey, logging through
wagate.logging into logs/combined.log. Two jobs run interleaved, so a line taking the other job's id shows too.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from pathlib import Path
from typing import Any

import structlog

from tests.fixtures import make_settings
from tests.workers import running_in_loop
from wagate.logging import configure_logging
from wagate.web.app import redis_client
from workers.common import build_worker

INSIDE = "test: inside the job"
TAGS = ("a", "b")
meeting: dict[str, asyncio.Barrier] = {}  # the test's, made in its loop


async def chatty(ctx: dict[str, Any], tag: str) -> str:
    """Logs a line, waits until both jobs have logged theirs, and logs another."""
    log = structlog.get_logger("wagate.test")
    log.info(INSIDE, tag=tag, step=1)
    async with asyncio.timeout(10):
        await meeting["both"].wait()
    log.info(INSIDE, tag=tag, step=2)
    return tag


async def test_a_jobs_own_lines_and_its_summary_line_carry_its_job_id(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}",
                             REDIS_URL=redis_url)
    configure_logging(settings, "worker", stream=io.StringIO())
    queue_name = f"test:job-logs:{uuid.uuid4().hex[:8]}"
    queue = redis_client(redis_url)
    meeting["both"] = asyncio.Barrier(len(TAGS))
    try:
        worker = build_worker(settings, queue_name=queue_name, functions=[chatty], handle_signals=False)
        async with running_in_loop(worker):
            jobs = {tag: await queue.enqueue_job("chatty", tag, _queue_name=queue_name, _job_id=f"logs-{tag}")
                    for tag in TAGS}
            for tag, job in jobs.items():
                assert job is not None
                assert await job.result(timeout=10, poll_delay=0.05) == tag
    finally:
        await queue.aclose(close_connection_pool=True)

    lines = [json.loads(line) for line in (settings.log_dir / "combined.log").read_text().splitlines()]
    inside = [line for line in lines if line["event"] == INSIDE]
    assert sorted((line["tag"], line["step"]) for line in inside) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    # Both first lines came before either second one: each job logged while the other was running.
    assert {line["step"] for line in inside[:2]} == {1}
    for line in inside:
        assert line.get("job_id") == f"logs-{line['tag']}" and line.get("job_try") == 1, line
    summaries = {line["job_id"]: line for line in lines if line["event"] == "job" and "job_id" in line}
    assert {job_id: (line["job"], line["outcome"], line["queue"]) for job_id, line in summaries.items()} == {
        "logs-a": ("chatty", "success", queue_name), "logs-b": ("chatty", "success", queue_name)}
    assert all(line["event"] != "job" or "job_id" in line for line in lines), "a job summary line without its id"
