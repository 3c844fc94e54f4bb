"""A worker process built by `workers.common.build_worker` with one slow job, for shutdown tests.

    python -m tests.observability.slow_worker QUEUE GRACE_SECONDS
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import workers.common as common
from wagate.config import load_settings
from wagate.logging import configure_logging


def started_key(tag: str) -> str:
    return f"test:slow:{tag}:started"


def finished_key(tag: str) -> str:
    return f"test:slow:{tag}:finished"


async def slow(ctx: dict[str, Any], seconds: float, tag: str) -> str:
    """Sleeps `seconds` on its first try and briefly after; notes each try's start and end in Redis."""
    await ctx["redis"].rpush(started_key(tag), ctx["job_try"])
    await asyncio.sleep(seconds if ctx["job_try"] == 1 else 0.1)
    await ctx["redis"].rpush(finished_key(tag), ctx["job_try"])
    return tag


def main() -> None:
    queue, grace = sys.argv[1], float(sys.argv[2])
    common.JOB_COMPLETION_WAIT_S = grace  # type: ignore[assignment]  # the test's grace instead of 25 s
    settings = load_settings(env_file=None)
    configure_logging(settings, "worker")
    common.build_worker(settings, queue_name=queue, functions=[slow]).run()


if __name__ == "__main__":
    main()
