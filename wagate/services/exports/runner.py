"""The worker's export loop: one reader task per active export, on the worker that holds its lease.

Every worker runs this loop; a Redis lease per export (`SET NX PX`, renewed) makes exactly one of them read it,
which keeps the stream's order per export. A worker that dies leaves its leases to lapse (or, on the same host,
to be taken at once: its PID runs no more), and the next holder takes the group's pending entries first. The
loop also picks up edits (a changed row restarts its reader), drops the groups of exports gone and trims the
event stream (see `backlog`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge.leases import holder_is_gone, process_owner
from wagate.config import Settings
from wagate.db.models_export import EventExport
from wagate.services.exports import backlog, brokers, stream
from wagate.services.exports.stream import ExportTarget
from wagate.services.webhooks import secrets_box

log = structlog.get_logger("wagate.exports")

ROUND_S = 2.0  # how soon a new, edited or deleted export is picked up
TRIM_EVERY_S = 10.0
STOP_WAIT_S = stream.BLOCK_MS / 1000 + 5
_RENEW = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
          "else return 0 end")
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def lease_key(export_id: int) -> str:
    return f"wagate:export:{export_id}:lease"


async def _script(redis: Redis, script: str, key: str, *args: str | int) -> Any:
    return await cast(Awaitable[Any], redis.eval(script, 1, key, *args))  # type: ignore[arg-type]


async def active_exports(db_factory: async_sessionmaker[AsyncSession], settings: Settings
                         ) -> tuple[dict[int, ExportTarget], int]:
    """The active exports, URLs decrypted, and the newest export id of all (active or not)."""
    async with db_factory() as db:
        rows = list(await db.scalars(select(EventExport).where(EventExport.is_active.is_(True))))
        newest = await db.scalar(select(func.max(EventExport.id))) or 0
    found = {}
    for row in rows:
        try:
            url = secrets_box.decrypt(settings.encryption_key, row.url_encrypted)
        except secrets_box.SecretUnreadable:
            log.error("export skipped: its URL cannot be decrypted with the current ENCRYPTION_KEY", export_id=row.id)
            continue
        found[row.id] = ExportTarget(row.id, row.kind, url, row.target, row.prefix, row.events, row.tenant_id,
                                     row.session_id, row.updated_at.isoformat())
    return found, newest


async def take_lease(redis: Redis, export_id: int, owner: str, ttl_ms: int) -> bool:
    key = lease_key(export_id)
    if await redis.set(key, owner, nx=True, px=ttl_ms):
        return True
    holder = await redis.get(key)
    if holder is not None and holder_is_gone(holder.decode()):
        # A worker killed on this host: its lease would otherwise hold the export back for a whole lease.
        await _script(redis, _RELEASE, key, holder)
        return bool(await redis.set(key, owner, nx=True, px=ttl_ms))
    return False


class Exporters:
    """The reader tasks this worker runs, by export id."""

    def __init__(self, redis: Redis, owner: str, ttl_ms: int) -> None:
        self.redis, self.owner, self.ttl_ms = redis, owner, ttl_ms
        self.running: dict[int, tuple[asyncio.Task[None], asyncio.Event, str]] = {}

    def start(self, export: ExportTarget) -> None:
        stop = asyncio.Event()
        publisher = brokers.publisher(export.kind, export.url, export.target, export.prefix)
        task = asyncio.create_task(stream.run(self.redis, export, publisher, self.owner, stop),
                                   name=f"export-{export.id}")
        self.running[export.id] = (task, stop, export.version)
        log.info("export reader started", export_id=export.id, kind=export.kind.value)

    async def stop(self, export_id: int) -> None:
        task, stop, _ = self.running.pop(export_id)
        stop.set()
        try:
            await asyncio.wait_for(task, STOP_WAIT_S)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception as exc:  # the reader's own failure, logged when it was reaped
            log.debug("export reader ended with an error", export_id=export_id, error=type(exc).__name__)
        with contextlib.suppress(RedisError, OSError):
            await _script(self.redis, _RELEASE, lease_key(export_id), self.owner)

    async def round(self, exports: dict[int, ExportTarget]) -> None:
        """Stop readers that ended, lost their lease or whose export changed; start those this worker can lease."""
        for export_id, (task, _, version) in list(self.running.items()):
            export = exports.get(export_id)
            renewed = export is not None and await _script(self.redis, _RENEW, lease_key(export_id), self.owner,
                                                                   self.ttl_ms)
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.warning("export reader failed; starting it again", export_id=export_id,
                            error=f"{type(task.exception()).__name__}: {task.exception()}"[:300])
            if task.done() or not renewed or export is None or export.version != version:
                await self.stop(export_id)
        for export_id, export in exports.items():
            if export_id not in self.running and await take_lease(self.redis, export_id, self.owner, self.ttl_ms):
                self.start(export)

    async def stop_all(self) -> None:
        for export_id in list(self.running):
            await self.stop(export_id)


async def run_exports(db_factory: async_sessionmaker[AsyncSession], redis: Redis, settings: Settings, *,
                      stop: asyncio.Event, owner: str | None = None, round_s: float = ROUND_S) -> None:
    """The worker's long-lived export loop, until `stop` is set."""
    exporters = Exporters(redis, owner or process_owner(), round(settings.job_lease_s * 1000))
    last_trim, newest_seen = 0.0, 0
    try:
        while not stop.is_set():
            try:
                exports, newest = await active_exports(db_factory, settings)
                newest_seen = max(newest_seen, newest)  # not the current newest: that one may have been deleted
                await exporters.round(exports)
                await backlog.forget(redis, exports, newest_seen)
                if time.monotonic() - last_trim >= TRIM_EVERY_S:
                    last_trim = time.monotonic()
                    await backlog.trim(redis)
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("export loop paused", error=f"{type(exc).__name__}: {exc}"[:300])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(round_s):
                    await stop.wait()
    finally:
        await exporters.stop_all()
