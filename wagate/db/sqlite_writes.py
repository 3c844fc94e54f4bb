"""One writer at a time per process on SQLite, queued in asyncio instead of in SQLite's busy handler.

SQLite has one write lock per database. A connection that finds it taken sleeps in its busy handler and looks
again: after its first few tries, every 100 ms. A process with many connections writing at once (the bridge's
senders and receipts, a bulk send in the web) puts all of them in that loop, and a writer that just arrived
looks again sooner than one that has waited long, so under a steady load from other processes some writer
could wait past the busy timeout and fail with "database is locked". Here the writers of one process wait
in arrival order on an asyncio lock, which costs nothing while waiting, and only the first of them is in
SQLite's queue with the other processes' writers: one contender per process.

A connection takes the gate at its transaction's first write (the moment SQLite takes its write lock, since
transactions begin at the first write: see `engine`) and gives it back when that transaction ends: commit,
rollback (a connection returned to the pool is rolled back), or the connection closed or terminated.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_

_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)


class WriteGate:
    """The gate of one engine; `install` hooks it into the engine's statements and transactions."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # One lock per event loop: an engine outlives a loop in tests, and an asyncio lock belongs to one loop.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._holders: dict[int, asyncio.Lock] = {}  # id(raw connection) -> the lock it holds

    def install(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", self._before_execute)
        # Every way a connection's transaction or life ends goes through one of these (a pool's reset rolls back;
        # invalidating, cancelling or discarding a connection closes or terminates it).
        dialect = sync_engine.dialect
        for name in ("do_commit", "do_rollback", "do_close", "do_terminate"):
            setattr(dialect, name, self._releasing(getattr(dialect, name)))

    def _releasing(self, end: Callable[[Any], None]) -> Callable[[Any], None]:
        def ended(connection: Any) -> None:
            try:
                end(connection)
            finally:
                self.release(connection)

        return ended

    def release(self, connection: Any) -> None:
        lock = self._holders.pop(id(_raw(connection)), None)
        if lock is not None:
            lock.release()

    def _before_execute(self, conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                        executemany: bool) -> None:
        if not _WRITE.match(statement):
            return
        raw = _raw(conn.connection)
        if id(raw) in self._holders:
            return  # this transaction holds the gate already
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            await_(_acquire(lock, self.timeout_s))
        except TimeoutError as exc:
            # What SQLite says when its own wait runs out, so callers see one error for one cause.
            raise OperationalError(statement, parameters, sqlite3.OperationalError(
                f"database is locked (another write of this process held it for {self.timeout_s:.0f} s)")) from exc
        self._holders[id(raw)] = lock


async def _acquire(lock: asyncio.Lock, timeout_s: float) -> None:
    # asyncio.timeout, not wait_for: Python 3.11's wait_for can be cancelled after the lock was granted, and the
    # gate would stay taken for good; a cancelled Lock.acquire hands the lock on.
    async with asyncio.timeout(timeout_s):
        await lock.acquire()


def _raw(connection: Any) -> Any:
    """The DBAPI connection behind a pool's proxy (or the DBAPI connection itself)."""
    return getattr(connection, "dbapi_connection", connection)
