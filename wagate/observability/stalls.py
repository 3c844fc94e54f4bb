"""Stalls the watchdogs found: counted in metrics, logged as errors and kept in Redis for `/api/health`.

A watchdog (the bridge's over its sessions, the worker's over webhook deliveries) that finds work late past its
bound reports it here: one key per reporter holding a short summary, alive for a few of its periods, so health
shows `degraded` while the stall lasts and clears by itself once the watchdog stops finding it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

log = structlog.get_logger(__name__)

STALLS = Counter("wagate_stalls_total", "Work found late by a watchdog and recovered, by kind", ("kind",))
WEBHOOKS_REPORTER = "webhooks"


def stall_key(reporter: str) -> str:
    return f"wagate:stalls:{reporter}"


def bridge_reporter(shard: int) -> str:
    return f"bridge:{shard}"


async def report(redis: Redis, reporter: str, kind: str, count: int, keep_s: float, **fields: Any) -> None:
    """Count `count` stalls of `kind`, log them as an error and show them in health for `keep_s`."""
    STALLS.labels(kind).inc(count)
    log.error("stall found and recovered", reporter=reporter, kind=kind, count=count, **fields)
    summary = {"reporter": reporter, "kind": kind, "count": count, "at": int(time.time())}
    try:
        await redis.set(stall_key(reporter), json.dumps(summary), px=max(1, int(keep_s * 1000)))
    except Exception as exc:  # noqa: BLE001 - health then misses it; the error line and the metric remain
        log.warning("stall not shown in health", reporter=reporter, error=type(exc).__name__)


async def current(redis: Redis, shards: int) -> list[dict[str, Any]]:
    """The stalls reported lately by the worker and every bridge shard (one MGET)."""
    keys = [stall_key(WEBHOOKS_REPORTER)] + [stall_key(bridge_reporter(s)) for s in range(shards)]
    return [json.loads(raw) for raw in await redis.mget(keys) if raw]
