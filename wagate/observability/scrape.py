"""One scrape: the counters and histograms of every process of the host, plus gauges read from Redis and the DB.

Queue depth and sessions by status are shared state, so they are read at scrape time (a few Redis commands and
one GROUP BY) instead of being kept by some process that could be down. A source that does not answer within
`SOURCE_TIMEOUT_S` leaves its gauges out and reports `wagate_metrics_source_up{source} 0`, so a scrape never
hangs on a broken dependency.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from wagate.db import figures
from wagate.db.enums import SessionStatus
from wagate.queue.names import WORKER_QUEUE, bridge_queue
from wagate.services.exports import backlog
from wagate.services.sessions import drivers

log = structlog.get_logger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # the format every Prometheus server reads
SOURCE_TIMEOUT_S = 2.0


def multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def reset_multiproc_dir(path: str | Path) -> Path:
    """Empty (or create) the metrics folder; call it once before the processes of a host start, never after."""
    folder = Path(path)
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def queue_names(shards: int) -> list[str]:
    return [WORKER_QUEUE, *(bridge_queue(shard) for shard in range(shards))]


@dataclass(slots=True, eq=False)  # registered in a CollectorRegistry: hashed by identity
class SharedState:
    """The gauges of one scrape, read before the (synchronous) exposition runs."""

    queues: dict[str, tuple[int, int]] = field(default_factory=dict)  # queue → (jobs, due now)
    sessions: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, int] = field(default_factory=dict)  # message status → messages waiting to be sent
    driving: dict[str, int] | None = None  # drivers.Driving.summary(), when both sources answered
    up: dict[str, bool] = field(default_factory=dict)
    exports: list[backlog.ExportFigures] = field(default_factory=list)

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("wagate_queue_depth", figures.JOBS_QUEUED, labels=["queue"])
        ready = GaugeMetricFamily("wagate_queue_ready", "Jobs in the queue that are due now", labels=["queue"])
        for queue, (jobs, due) in self.queues.items():
            depth.add_metric([queue], jobs)
            ready.add_metric([queue], due)
        waiting = GaugeMetricFamily("wagate_messages_waiting", figures.MESSAGES_WAITING, labels=["status"])
        for status, count in self.waiting.items():
            waiting.add_metric([status], count)
        sessions = GaugeMetricFamily("wagate_sessions", "WhatsApp sessions by status", labels=["status"])
        for status, count in self.sessions.items():
            sessions.add_metric([status], count)
        up = GaugeMetricFamily("wagate_metrics_source_up", "Whether a scrape source answered", labels=["source"])
        for source, ok in self.up.items():
            up.add_metric([source], 1 if ok else 0)
        yield from (m for m in (depth, ready, waiting, sessions) if m.samples)
        if self.driving is not None:
            yield GaugeMetricFamily("wagate_sessions_orphaned", "Sessions that should run and no live bridge drives",
                                    value=self.driving["orphaned"])
            yield GaugeMetricFamily("wagate_bridges_live", "Bridge processes renewing their leases",
                                    value=self.driving["bridges"])
        yield from _export_metrics(self.exports)
        yield up


def _export_metrics(exports: list[backlog.ExportFigures]) -> Iterator[Metric]:
    if not exports:
        return
    waiting = GaugeMetricFamily("wagate_broker_backlog", "Events an export's broker has not confirmed yet",
                                labels=["export"])
    lag = GaugeMetricFamily("wagate_broker_lag_seconds", "Age of the oldest event an export's broker has not "
                            "confirmed (0 when none waits)", labels=["export"])
    up = GaugeMetricFamily("wagate_broker_up", "Whether an export's broker takes events", labels=["export"])
    down = GaugeMetricFamily("wagate_broker_down_seconds", "How long an export's broker has been down",
                             labels=["export"])
    for export in exports:
        label = [str(export.export_id)]
        if export.waiting is not None:
            waiting.add_metric(label, export.waiting)
        lag.add_metric(label, export.lag_s)
        if export.up is not None:
            up.add_metric(label, 1 if export.up else 0)
        down.add_metric(label, export.down_for_s)
    yield from (m for m in (waiting, lag, up, down) if m.samples)


async def _exports(redis: Redis) -> list[backlog.ExportFigures]:
    async with asyncio.timeout(SOURCE_TIMEOUT_S):
        return await backlog.figures(redis)


async def _queues(redis: Redis, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    names = list(names)
    now_ms = int(time.time() * 1000)
    async with asyncio.timeout(SOURCE_TIMEOUT_S), redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.zcard(name)
            pipe.zcount(name, "-inf", now_ms)
        counts = await pipe.execute()
    return {name: (int(counts[2 * i]), int(counts[2 * i + 1])) for i, name in enumerate(names)}


async def _sessions(engine: AsyncEngine) -> tuple[dict[str, int], dict[str, SessionStatus]]:
    async with asyncio.timeout(SOURCE_TIMEOUT_S), engine.connect() as conn:
        rows = await conn.execute(text("SELECT status, COUNT(*) FROM wa_sessions GROUP BY status"))
        found = {str(status): int(count) for status, count in rows}
        should_run = await drivers.should_run(conn)
    return {status.value: found.get(status.value, 0) for status in SessionStatus}, should_run


async def _waiting(engine: AsyncEngine) -> dict[str, int]:
    async with asyncio.timeout(SOURCE_TIMEOUT_S), engine.connect() as conn:
        found = {str(status): int(count) for status, count in await conn.execute(figures.waiting_by_status())}
    return {status.value: found.get(status.value, 0) for status in figures.WAITING_STATUSES}


async def shared_state(engine: AsyncEngine, redis: Redis, shards: int) -> SharedState:
    state = SharedState()
    queues, sessions, waiting, exports = await asyncio.gather(
        _queues(redis, queue_names(shards)), _sessions(engine), _waiting(engine), _exports(redis),
        return_exceptions=True)
    for source, value in (("redis", queues), ("database", sessions), ("database", waiting)):
        state.up[source] = not isinstance(value, BaseException) and state.up.get(source, True)
        if isinstance(value, BaseException):
            log.warning("metrics source failed", source=source, error=type(value).__name__)
    if isinstance(queues, dict):
        state.queues = queues
    if isinstance(sessions, tuple):
        state.sessions, should_run = sessions
        if isinstance(queues, dict):
            try:
                async with asyncio.timeout(SOURCE_TIMEOUT_S):
                    state.driving = (await drivers.driving(redis, should_run)).summary()
            except Exception as exc:
                log.warning("metrics source failed", source="leases", error=type(exc).__name__)
    if isinstance(waiting, dict):
        state.waiting = waiting
    if isinstance(exports, list):
        state.exports = exports
    return state


def exposition(state: SharedState) -> bytes:
    """The text format: every process's metrics (or this one's, without a multiprocess folder), then `state`."""
    folder = multiproc_dir()
    if folder:
        processes = CollectorRegistry()
        MultiProcessCollector(processes, folder)
    else:
        processes = REGISTRY
    shared = CollectorRegistry(auto_describe=False)
    shared.register(state)
    return generate_latest(processes) + generate_latest(shared)
