"""A database out of reach: 503 with Retry-After for each request it fails, one log line when the outage begins and
one when it ends, instead of a 500 and a traceback per request.

Clients retry a 503 (and read Retry-After); many do not retry a 500. Which requests fail is decided by the database
alone, so the outage ends when it answers again: a probe every second from the first refusal on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from aiohttp import web
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("wagate.web")

RETRY_AFTER_S = 5  # a restart or a failover of the database takes seconds; asking sooner only adds load
PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 2.0
MESSAGE = "The database is unreachable; retry shortly"


def is_unreachable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or cannot answer now (refused or lost connections, no
    connection in the pool, a file that cannot be opened, a lock), as opposed to a bad statement or a constraint."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (exc.OperationalError, exc.InterfaceError, exc.TimeoutError))


class DatabaseOutage:
    """The web process's view of the current outage: when it began and how many requests it refused."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.since: float | None = None
        self.refused = 0
        self._probe: asyncio.Task[None] | None = None

    def refuse(self, error: BaseException, method: str, path: str) -> web.Response:
        """Count the request `error` failed and answer it 503; the first of an outage is logged."""
        if self.since is None:
            self.since = time.monotonic()
            self.refused = 0
            log.error("database unreachable", error=f"{type(error).__name__}: {getattr(error, 'orig', error)}"[:300],
                      method=method, path=path, retry_after_s=RETRY_AFTER_S)
            self._probe = asyncio.create_task(self._until_back())
        self.refused += 1
        return web.json_response({"success": False, "message": MESSAGE, "details": {"retry_after": RETRY_AFTER_S}},
                                 status=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    async def _until_back(self) -> None:
        while True:
            await asyncio.sleep(PROBE_EVERY_S)
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_S), self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except Exception:  # noqa: BLE001, S112 - still out of reach; the first refusal said why
                continue
            assert self.since is not None
            log.warning("database reachable again", down_s=round(time.monotonic() - self.since, 1),
                        requests_refused=self.refused)
            self.since = None
            return

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe

