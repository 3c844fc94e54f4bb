"""What every arq process shares: settings in ctx, the database, job-scoped log context, and the Worker build."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import replace
from typing import Any

import structlog
from arq import Retry, Worker
from arq.connections import RedisSettings
from arq.constants import in_progress_key_prefix
from arq.cron import CronJob
from arq.typing import StartupShutdown
from arq.worker import Function, func
from redis.exceptions import RedisError

from wagate.bridge.leases import process_owner
from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.observability import metrics
from wagate.queue.names import HEALTH_CHECK_INTERVAL_S
from wagate.redis_connect import parse as parse_redis_url
from wagate.redis_connect import queue_client
from workers import orphans

Ctx = dict[str, Any]
Hook = Callable[[Ctx], Awaitable[None]]
log = structlog.get_logger("wagate.jobs")

# Jobs poll Redis every 50 ms when idle: enqueue→start stays in milliseconds (arq's default 0.5 s is ~280 ms).
POLL_DELAY_S = 0.05
# On SIGTERM a process stops taking jobs and gives the running ones this long to finish; what is still running
# then is cancelled and, with retry_jobs, put back on the queue for the next process at once. supervisord's
# stopwaitsecs must exceed it plus the shutdown hooks (see supervisord.conf).
JOB_COMPLETION_WAIT_S = 25
# For functions without their own timeout. How soon a job whose process died runs again is the lease
# (settings.job_lease_s, see Consumer), not this.
JOB_TIMEOUT_S = 120
# A consumer renews the marks of the jobs it runs this many times per lease.
LEASE_RENEWALS = 4
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
    """arq's Worker, kept alive through a Redis restart, whose running jobs hold a renewed lease.

    arq retries the connection only when it starts; afterwards one refused poll ends `run()` and the process
    exits. For a bridge that means dropping every WhatsApp connection and waiting out its session leases
    after a restart; for the worker, stopping the webhook fan-out. Here a poll that cannot reach Redis is
    logged and tried again, and the process carries on once Redis is back (jobs, leases and the pub/sub
    listeners reconnect on their own).

    arq marks a job it starts as running (`arq:in-progress:<job id>`, which keeps every other process from
    starting it) for the longest timeout of the queue's functions + 10 s, 130 s here, and never renews the mark.
    A job whose process was SIGKILLed, or whose start or end a Redis restart cut off, therefore stayed
    unrunnable that long, with its webhook or inbound message. Here:

    - the mark lasts `job_lease_s` and the process renews the marks of its running jobs every quarter of that:
      a live job keeps its mark however long it runs, and a dead process's jobs run again within one lease;
    - a consumer starting after one of its host was killed releases the marks the killed one left at once
      (workers.orphans), so a supervisor's restart picks the jobs up in about a second;
    - the read before a job and the write after it are tried again while Redis is away, instead of ending
      the run with the job still queued and marked;
    - a process never starts a job it is still running itself, should the mark lapse while Redis was away.
    """

    def __init__(self, *args: Any, job_lease_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_progress_timeout_s = job_lease_s  # what arq's start_jobs sets the mark to
        self.owner = process_owner()
        self._begun: set[str] = set()  # ids of the jobs whose function this process has called
        hook = self.on_job_start

        async def begin(ctx: Ctx) -> None:
            self._begun.add(ctx["job_id"])
            if hook:
                await hook(ctx)

        self.on_job_start = begin

    async def _patiently(self, what: str, call: Callable[..., Awaitable[Any]], *args: Any,
                         unless: Callable[[], bool] = lambda: False) -> Any:
        """`call(*args)`, tried again each REDIS_RETRY_S while Redis is unreachable, START_TRIES times at most,
        and not once `unless()` is true."""
        for attempt in range(1, START_TRIES + 1):
            try:
                return await call(*args)
            except (RedisError, OSError) as exc:
                if attempt == START_TRIES or unless():
                    raise
                log.warning(f"queue unreachable {what}; trying again", queue=self.queue_name,
                            error=f"{type(exc).__name__}: {exc}", retry_in_s=REDIS_RETRY_S)
                await asyncio.sleep(REDIS_RETRY_S)

    async def run_job(self, job_id: str, score: int) -> None:
        # arq reads the job before it calls the function; Redis going away there ended the run, leaving the job
        # queued and marked until the mark lapsed. That read is tried again instead, never the job itself, and
        # only while the mark start_jobs set is sure to stand (nothing else can have started the job).
        marked_until = time.monotonic() + self.in_progress_timeout_s - REDIS_RETRY_S
        try:
            await self._patiently("at a job's start", super().run_job, job_id, score,
                                  unless=lambda: job_id in self._begun or time.monotonic() > marked_until)
        finally:
            self._begun.discard(job_id)

    async def finish_job(self, *args: Any) -> None:
        # A job's end that Redis missed would leave the job queued, to run again once its mark lapsed.
        await self._patiently("at a job's end", super().finish_job, *args)

    async def finish_failed_job(self, *args: Any) -> None:
        await self._patiently("at a job's end", super().finish_failed_job, *args)

    async def main(self) -> None:
        # arq waits for Redis at start only for a pool it makes itself; the queue client `build_worker` gives it
        # connects lazily, so wait here before arq's start-up uses it.
        await self._patiently("at start", self.pool.ping)
        await self._patiently("at start", self._renew_leases)
        released = await self._patiently("at start", orphans.release_orphaned_marks, self.pool, self.queue_name,
                                         self.owner)
        if released > 0:
            log.warning("jobs of a consumer that is gone released", queue=self.queue_name, count=released)
        renewer = asyncio.create_task(self._keep_renewing(), name=f"leases:{self.queue_name}")
        try:
            await super().main()
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(RedisError, OSError):  # a clean exit: struck off the consumers at once
                await self.pool.hdel(orphans.registry_key(self.queue_name), self.owner)  # type: ignore[misc]
                await self.pool.delete(orphans.alive_key(self.queue_name, self.owner))

    def _running(self) -> list[str]:
        return [job_id for job_id, task in self.tasks.items() if not task.done()]

    async def _renew_leases(self) -> None:
        """Renew this consumer's listing (see workers.orphans) and the marks of its running jobs."""
        lease_ms = int(self.in_progress_timeout_s * 1000)
        async with self.pool.pipeline(transaction=False) as pipe:
            pipe.hset(orphans.registry_key(self.queue_name), self.owner, "1")
            pipe.set(orphans.alive_key(self.queue_name, self.owner), b"1", px=lease_ms)
            for job_id in self._running():
                # PEXPIRE leaves a mark alone once the job's end deleted it.
                pipe.pexpire(in_progress_key_prefix + job_id, lease_ms)
            await pipe.execute()

    async def _keep_renewing(self) -> None:
        while True:
            await asyncio.sleep(self.in_progress_timeout_s / LEASE_RENEWALS)
            with contextlib.suppress(RedisError, OSError):  # the poll logs Redis being away; the next round renews
                await self._renew_leases()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        running = set(self._running())
        await super().start_jobs([job_id for job_id in job_ids if job_id.decode() not in running])

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
        job_lease_s=settings.job_lease_s,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        poll_delay=POLL_DELAY_S,
        max_jobs=max_jobs,
        keep_result=60,
        ctx={},
    )
