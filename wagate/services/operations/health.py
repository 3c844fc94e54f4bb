"""Health of the gateway's parts (database, Redis, queue consumers, WhatsApp) and the process's own metrics.

The database and Redis are hard dependencies: without either, nothing can be accepted safely, so the
gateway is `unhealthy`. Queue consumers and WhatsApp sessions can be down while the API still accepts
and queues work without loss, so they only make it `degraded`. A session counts as connected only while a
live bridge holds its lease and has written it WORKING (`wagate.services.sessions.drivers`); a session that should run
and that no live bridge drives is orphaned, and makes the gateway `degraded` too.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil
import structlog
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from wagate.db.enums import SessionStatus
from wagate.observability import stalls as stall_reports
from wagate.queue.names import HEALTH_CHECK_SUFFIX, WORKER_QUEUE, bridge_queue
from wagate.services.exports import backlog
from wagate.services.sessions import drivers

log = structlog.get_logger(__name__)
CHECK_TIMEOUT_S = 2.0
# A broker of an event export down longer than this makes the gateway `degraded`: events wait in the stream, none is
# lost, but its consumers are falling behind. Shorter outages (a broker restart) are only shown.
BROKER_DOWN_BOUND_S = 60.0
_process = psutil.Process(os.getpid())


@dataclass(slots=True)
class HealthReport:
    status: str
    services: dict[str, str]
    metrics: dict[str, Any]
    down: list[str] = field(default_factory=list)
    sessions: dict[str, int] = field(default_factory=dict)
    stalls: list[dict[str, Any]] = field(default_factory=list)
    whatsapp: dict[str, int] | None = None  # should_run, driven, orphaned, connected, bridges (None: unknown)
    media_store: dict[str, Any] | None = None  # store, status ok|down, waiting, reason (None: not checked)
    exports: list[dict[str, Any]] = field(default_factory=list)  # brokers of event exports (wagate.services.exports)

    @property
    def healthy(self) -> bool:
        return self.status != "unhealthy"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "services": self.services,
            "metrics": self.metrics,
            "sessions": self.sessions,
            "whatsapp": self.whatsapp,
            "down": self.down,
            "stalls": self.stalls,
            "media_store": self.media_store,
            "exports": self.exports,
        }


async def _database(engine: AsyncEngine) -> tuple[dict[str, int], dict[str, SessionStatus]] | None:
    """Session counts by status and the sessions that should run, or None when the database does not answer."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), engine.connect() as conn:
            rows = await conn.execute(text("SELECT status, COUNT(*) FROM wa_sessions GROUP BY status"))
            return {str(status): int(count) for status, count in rows}, await drivers.should_run(conn)
    except Exception as exc:  # any driver error means "down"; the reason is logged, not shown
        log.warning("health: database check failed", error=type(exc).__name__, reason=str(exc)[:200])
        return None


async def _redis(redis: Redis, shards: int) -> tuple[bool, bool, bool]:
    """(redis answers, a worker is consuming, every bridge shard is consuming)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            keys = [WORKER_QUEUE + HEALTH_CHECK_SUFFIX] + [bridge_queue(s) + HEALTH_CHECK_SUFFIX for s in range(shards)]
            async with redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.exists(key)
                seen = await pipe.execute()
    except Exception as exc:
        log.warning("health: redis check failed", error=type(exc).__name__, reason=str(exc)[:200])
        return False, False, False
    return True, bool(seen[0]), all(seen[1:])


async def _stalls(redis: Redis, shards: int) -> list[dict[str, Any]]:
    """What the watchdogs found late and recovered lately (see wagate.observability.stalls); [] if unknown."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await stall_reports.current(redis, shards)
    except Exception as exc:  # Redis down is reported by `_redis`
        log.warning("health: stall check failed", error=type(exc).__name__)
        return []


async def _exports(redis: Redis) -> list[dict[str, Any]]:
    """Each export's broker state and backlog; [] if unknown (Redis down is reported by `_redis`)."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return [{"id": f.export_id, "up": f.up, "down_for_s": f.down_for_s, "waiting": f.waiting,
                     "lag_s": f.lag_s} for f in await backlog.figures(redis)]
    except Exception as exc:
        log.warning("health: export check failed", error=type(exc).__name__, reason=str(exc)[:200])
        return []


def process_metrics(started_at: float) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    return {
        "uptime": round(time.time() - started_at, 1),
        "memory": {"used": round(_process.memory_info().rss / 2**20, 1), "total": round(memory.total / 2**20)},
        "cpu": psutil.cpu_percent(interval=None),
    }


async def check(engine: AsyncEngine, redis: Redis, *, shards: int, started_at: float,
                media_store: dict[str, Any] | None = None,
                broker_down_bound_s: float = BROKER_DOWN_BOUND_S) -> HealthReport:
    """`media_store`: the media store's health (`wagate.services.media.upkeep.store_health`); while it is down
    sends that need a medium wait and received media are kept locally, so the gateway is only degraded. A broker
    of an event export down past `broker_down_bound_s` degrades it too (its events wait in the stream)."""
    found, (redis_up, worker_up, bridges_up), stalls, exports = await asyncio.gather(
        _database(engine), _redis(redis, shards), _stalls(redis, shards), _exports(redis))
    database_up = found is not None
    sessions, should_run = found or ({}, {})
    driving = await _driving(redis, should_run) if database_up and redis_up else None
    if not bridges_up:
        whatsapp = "bridge_down"
    elif driving is not None and driving.connected:
        whatsapp = "connected"
    else:
        whatsapp = "disconnected" if sessions else "no_sessions"
    services = {
        "whatsapp": whatsapp,
        "database": "connected" if database_up else "disconnected",
        "redis": "connected" if redis_up else "disconnected",
        "queue": "running" if worker_up and bridges_up else "stopped",
    }
    down = [name for name, up in (("database", database_up), ("redis", redis_up)) if not up]
    if not redis_up:
        services["queue"] = "unknown"
        services["whatsapp"] = "unknown"
    if down:
        status = "unhealthy"
    elif (services["queue"] != "running" or whatsapp != "connected" or (driving is not None and driving.orphaned)
          or stalls or (media_store is not None and media_store["status"] != "ok")
          or any(e["down_for_s"] > broker_down_bound_s for e in exports)):
        status = "degraded"
    else:
        status = "healthy"
    return HealthReport(status, services, process_metrics(started_at), down, sessions, stalls,
                        driving.summary() if driving is not None else None, media_store, exports)


async def _driving(redis: Redis, should_run: dict[str, SessionStatus]) -> drivers.Driving | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await drivers.driving(redis, should_run)
    except Exception as exc:
        log.warning("health: lease check failed", error=type(exc).__name__, reason=str(exc)[:200])
        return None
