"""What every arq process shares: settings in ctx, the database, job-scoped log context, and the Worker build."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from arq import Worker
from arq.connections import RedisSettings
from arq.cron import CronJob

from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.queue.names import HEALTH_CHECK_INTERVAL_S

Ctx = dict[str, Any]
Hook = Callable[[Ctx], Awaitable[None]]
log = structlog.get_logger("wagate.jobs")

# Jobs poll Redis every 50 ms when idle: enqueue→start stays in milliseconds (arq's default 0.5 s is ~280 ms).
POLL_DELAY_S = 0.05


async def ping(ctx: Ctx) -> str:
    """A no-op job: proves a consumer is alive end to end (used by tests and by operators)."""
    return "pong"


async def _job_start(ctx: Ctx) -> None:
    structlog.contextvars.bind_contextvars(job_id=ctx["job_id"], job_try=ctx["job_try"])


async def _job_end(ctx: Ctx) -> None:
    structlog.contextvars.unbind_contextvars("job_id", "job_try")


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 5
    settings.conn_retries = 60  # keep trying for a minute when Redis restarts under a running process
    settings.conn_retry_delay = 1
    return settings


def build_worker(
    settings: Settings,
    *,
    queue_name: str,
    functions: Sequence[Any],
    cron_jobs: Sequence[CronJob] = (),
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    max_jobs: int = 50,
    handle_signals: bool = True,
) -> Worker:
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set")

    async def startup(ctx: Ctx) -> None:
        ctx["settings"] = settings
        ctx["engine"] = create_engine(settings)
        ctx["db"] = create_sessionmaker(ctx["engine"])
        if on_startup:
            await on_startup(ctx)
        log.info("consumer started", queue=queue_name)

    async def shutdown(ctx: Ctx) -> None:
        if on_shutdown:
            await on_shutdown(ctx)
        await ctx["engine"].dispose()
        log.info("consumer stopped", queue=queue_name)

    return Worker(
        functions=[ping, *functions],
        cron_jobs=list(cron_jobs) or None,
        queue_name=queue_name,
        redis_settings=redis_settings(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        on_job_start=_job_start,
        on_job_end=_job_end,
        handle_signals=handle_signals,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        poll_delay=POLL_DELAY_S,
        max_jobs=max_jobs,
        keep_result=60,
        ctx={},
    )
