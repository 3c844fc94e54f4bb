"""What every arq process shares: settings in ctx, the database, job-scoped log context, and the Worker build."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

import structlog
from arq import Retry, Worker
from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.typing import StartupShutdown
from arq.worker import Function, func
from redis.exceptions import RedisError

from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.observability import metrics
from wagate.queue.names import HEALTH_CHECK_INTERVAL_S
from wagate.redis_connect import parse as parse_redis_url
from wagate.redis_connect import queue_client

Ctx = dict[str, Any]
Hook = Callable[[Ctx], Awaitable[None]]
log = structlog.get_logger("wagate.jobs")

# Jobs poll Redis every 50 ms when idle: enqueue→start stays in milliseconds (arq's default 0.5 s is ~280 ms).
POLL_DELAY_S = 0.05
# On SIGTERM a process stops taking jobs and gives the running ones this long to finish; what is still running
# then is cancelled and, with retry_jobs, put back on the queue for the next process at once. supervisord's
# stopwaitsecs must exceed it plus the shutdown hooks (see supervisord.conf).
JOB_COMPLETION_WAIT_S = 25
# For functions without their own timeout. arq lets another process take over a job whose process died (SIGKILL)
# only after the longest timeout + 10 s, so this also bounds how long such a job waits to run again.
JOB_TIMEOUT_S = 120
# While Redis is unreachable, a consumer looks again this often (and logs once per look).
REDIS_RETRY_S = 1.0
# A consumer starting while Redis is down (a restart of both) waits this many looks for it, then exits.
START_TRIES = 60
REDIS_CONNECT_TIMEOUT_S = 5
# ctx keys the wrapped job function fills in for the job's summary line.
_FUNCTION, _OUTCOME, _STARTED = "wagate_function", "wagate_outcome", "wagate_started"


async def ping(ctx: Ctx) -> str:
    """A no-op job: proves a consumer is alive end to end (used by tests and by operators)."""
    return "pong"


JobCoroutine = Callable[..., Coroutine[Any, Any, Any]]


def _with_outcome(name: str, coroutine: JobCoroutine) -> JobCoroutine:
    """The job function, noting in ctx how it ended (arq's end hook is not told)."""

    @functools.wraps(coroutine)
    async def run(ctx: Ctx, *args: Any, **kwargs: Any) -> Any:
        ctx[_FUNCTION] = name
        ctx[_OUTCOME] = "cancelled"  # stays so when the run is cancelled: its timeout, or a shutdown
        try:
            result = await coroutine(ctx, *args, **kwargs)
        except Retry:
            ctx[_OUTCOME] = "retry"
            raise
        except Exception:
            ctx[_OUTCOME] = "failed"
            raise
        ctx[_OUTCOME] = "success"
        return result

    return run


def observed(functions: Sequence[Any], cron_jobs: Sequence[CronJob]) -> tuple[list[Function], list[CronJob]]:
    """arq functions and cron jobs whose runs report their outcome to the job summary line."""
    wrapped = [f if isinstance(f, Function) else func(f) for f in functions]
    return ([replace(f, coroutine=_with_outcome(f.name, f.coroutine)) for f in wrapped],
            [replace(job, coroutine=_with_outcome(job.name, job.coroutine)) for job in cron_jobs])


def _job_hooks(queue: str, timeouts: dict[str, float]) -> tuple[StartupShutdown, StartupShutdown]:
    async def start(ctx: Ctx) -> None:
        ctx[_STARTED] = time.monotonic()
        structlog.contextvars.bind_contextvars(job_id=ctx["job_id"], job_try=ctx["job_try"])

    async def end(ctx: Ctx) -> None:
        """The canonical one-line summary of a job run, and its metrics."""
        run_s = time.monotonic() - ctx[_STARTED]
        function = ctx.get(_FUNCTION, "unknown")
        outcome = ctx.get(_OUTCOME, "cancelled")
        if outcome == "cancelled" and run_s >= timeouts.get(function, JOB_TIMEOUT_S) - 0.05:
            outcome = "timeout"
        # score: when the job was due (its enqueue time, or the time it was deferred to), in unix ms.
        wait_s = time.time() - run_s - ctx["score"] / 1000 if ctx.get("score") else None
        log.info("job", job=function, queue=queue, duration_ms=round(run_s * 1000, 2), outcome=outcome,
                 wait_ms=None if wait_s is None else round(max(0.0, wait_s) * 1000, 2))
        metrics.observe_job(queue, function, outcome, wait_s, run_s)
        structlog.contextvars.unbind_contextvars("job_id", "job_try")

    return start, end


class Consumer(Worker):
    """arq's Worker, kept alive through a Redis restart.

    arq retries the connection only when it starts; afterwards one refused poll ends `run()` and the process
    exits. For a bridge that means dropping every WhatsApp connection and waiting out its session leases
    after a restart; for the worker, stopping the webhook fan-out. Here a poll that cannot reach Redis is
    logged and tried again, and the process carries on once Redis is back (jobs, leases and the pub/sub
    listeners reconnect on their own).
    """

    async def main(self) -> None:
        # arq waits for Redis at start only for a pool it makes itself; the queue client `build_worker` gives it
        # connects lazily, so wait here before arq's start-up uses it.
        for attempt in range(1, START_TRIES + 1):
            try:
                await self.pool.ping()
                break
            except (RedisError, OSError) as exc:
                if attempt == START_TRIES:
                    raise
                log.warning("queue unreachable at start; trying again", queue=self.queue_name,
                            error=f"{type(exc).__name__}: {exc}", retry_in_s=REDIS_RETRY_S)
                await asyncio.sleep(REDIS_RETRY_S)
        await super().main()

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as exc:  # refused, reset, timed out, or a WATCH cut off (WatchError)
            log.warning("queue unreachable; polling again", queue=self.queue_name,
                        error=f"{type(exc).__name__}: {exc}", retry_in_s=REDIS_RETRY_S)
            await asyncio.sleep(REDIS_RETRY_S)


def redis_settings(url: str) -> RedisSettings:
    """REDIS_URL as arq's RedisSettings, for arq's own `create_pool`; the gateway's processes use `queue_client`.

    arq cannot give Sentinels a password: a URL with sentinel_password is refused here (ValueError).
    """
    target = parse_redis_url(url)
    if target.sentinel_auth:
        raise ValueError("arq's create_pool cannot log in to Sentinels; use wagate.redis_connect.queue_client")
    if target.sentinels:
        settings = RedisSettings(host=list(target.sentinels), sentinel=True, sentinel_master=target.primary or "",
                                 database=target.db, username=target.username, password=target.password)
    else:
        settings = RedisSettings.from_dsn(target.url or "redis://")
        settings.ssl_ca_certs = target.tls.get("ssl_ca_certs")
        settings.ssl_certfile = target.tls.get("ssl_certfile")
        settings.ssl_keyfile = target.tls.get("ssl_keyfile")
        settings.ssl_check_hostname = target.tls.get("ssl_check_hostname", False)
    settings.conn_timeout = REDIS_CONNECT_TIMEOUT_S
    settings.conn_retries = START_TRIES
    settings.conn_retry_delay = int(REDIS_RETRY_S)
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

    jobs, crons = observed([ping, *functions], cron_jobs)
    timeouts = {f.name: f.timeout_s or JOB_TIMEOUT_S for f in jobs}
    timeouts.update({c.name: c.timeout_s or JOB_TIMEOUT_S for c in crons})
    job_start, job_end = _job_hooks(queue_name, timeouts)
    return Consumer(
        functions=jobs,
        cron_jobs=crons or None,
        queue_name=queue_name,
        # The gateway's own client (one server or Sentinel's primary): arq's Sentinel support cannot log in to
        # Sentinels and leaves its connections to them open. No read timeout: the bridge's wake-up channel blocks.
        redis_pool=queue_client(settings.redis_url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
                                default_queue_name=queue_name),
        on_startup=startup,
        on_shutdown=shutdown,
        on_job_start=job_start,
        on_job_end=job_end,
        handle_signals=handle_signals,
        job_completion_wait=JOB_COMPLETION_WAIT_S,
        job_timeout=JOB_TIMEOUT_S,
        retry_jobs=True,  # a job cancelled by a shutdown goes back on the queue instead of failing
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        poll_delay=POLL_DELAY_S,
        max_jobs=max_jobs,
        keep_result=60,
        ctx={},
    )
