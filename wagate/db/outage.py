"""Waiting out a database (or Redis) that is out of reach, a restart or a failover, instead of dropping what it
refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import exc

T = TypeVar("T")

# What SQLAlchemy raises while the database cannot be reached or answer (refused or lost connections, a pool
# with no connection to give, SQLite's lock): worth trying again, unlike a constraint or a bad statement.
UNREACHABLE: tuple[type[BaseException], ...] = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, OSError)
FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0


async def when_reachable(work: Callable[[], Awaitable[T]], *, patience_s: float, log: Any, what: str,
                         retry_on: tuple[type[BaseException], ...] = UNREACHABLE, **fields: Any) -> T:
    """`work()`, tried again while the database (or what `retry_on` names) is unreachable, for up to `patience_s`;
    then its error.

    `work` must be a whole transaction: a try that failed left nothing behind, or (a commit whose answer was
    lost) everything, which the caller tells apart when it must. Each retry is logged as "<what>; retrying".
    """
    deadline = time.monotonic() + patience_s
    delay = FIRST_DELAY_S
    while True:
        try:
            return await work()
        except retry_on as error:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(f"{what}; retrying", error=f"{type(error).__name__}: {error}"[:300], retry_in_s=delay,
                        **fields)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
