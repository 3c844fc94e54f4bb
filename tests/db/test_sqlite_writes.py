"""The SQLite write gate: a process's writers queue in asyncio, so none of them waits in SQLite's busy handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from wagate.db.engine import create_engine
from wagate.db.sqlite_writes import WriteGate


def _no_busy_wait(engine: AsyncEngine) -> None:
    """SQLite refuses a taken write lock at once: any writer that is not queued by the gate fails."""
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()


async def _table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL UNIQUE)"))


@pytest.fixture
async def gated(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'gated.db'}", pool_size=10, max_overflow=10)
    _no_busy_wait(engine)
    await _table(engine)
    yield engine
    await engine.dispose()


async def _writers(engine: AsyncEngine, n: int) -> list[BaseException | None]:
    """n transactions at once, each writing twice with a pause between (the write lock held meanwhile)."""
    async def one(k: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": 2 * k})
            await asyncio.sleep(0.01)
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": 2 * k + 1})

    return await asyncio.gather(*(one(k) for k in range(n)), return_exceptions=True)


async def test_concurrent_write_transactions_all_commit_without_touching_the_busy_handler(
        gated: AsyncEngine, tmp_path: Path) -> None:
    assert await _writers(gated, 30) == [None] * 30
    async with gated.connect() as conn:
        assert (await conn.execute(text("SELECT count(*), count(DISTINCT v) FROM t"))).one() == (60, 60)

    # The same load on an engine without the gate: the writers collide in SQLite and fail.
    bare = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'bare.db'}", pool_size=10, max_overflow=10)
    _no_busy_wait(bare)
    await _table(bare)
    try:
        failures = [r for r in await _writers(bare, 30) if r is not None]
        assert failures and all("database is locked" in str(r) for r in failures)
    finally:
        await bare.dispose()


async def test_a_failed_or_abandoned_transaction_gives_the_gate_back(gated: AsyncEngine) -> None:
    async with gated.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES (1)"))
    with pytest.raises(IntegrityError):
        async with gated.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES (1)"))  # rolled back
    async with gated.connect() as conn:  # closed without commit: the pool rolls it back
        await conn.execute(text("INSERT INTO t (v) VALUES (2)"))
    async with asyncio.timeout(2), gated.begin() as conn:  # would wait for a gate never given back
        await conn.execute(text("INSERT INTO t (v) VALUES (3)"))
    async with gated.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [1, 3]


async def test_reads_pass_while_a_write_holds_the_gate(gated: AsyncEngine) -> None:
    async with gated.begin() as writer:
        await writer.execute(text("INSERT INTO t (v) VALUES (7)"))
        async with asyncio.timeout(2), gated.connect() as reader:
            assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar() == 0  # WAL: the last commit


async def test_a_writer_that_waits_past_the_timeout_gets_database_is_locked(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}")
    WriteGate(0.2).install(engine)
    await _table(engine)
    try:
        async with engine.begin() as holder:
            await holder.execute(text("INSERT INTO t (v) VALUES (1)"))
            with pytest.raises(OperationalError, match="database is locked") as refused:
                async with engine.begin() as late:
                    await late.execute(text("INSERT INTO t (v) VALUES (2)"))
            assert isinstance(refused.value, DBAPIError)  # what the outage retries and error answers catch
        async with engine.begin() as conn:  # the holder's commit freed it
            await conn.execute(text("INSERT INTO t (v) VALUES (2)"))
    finally:
        await engine.dispose()


async def test_a_writer_cancelled_holding_or_awaiting_the_gate_does_not_keep_it(gated: AsyncEngine) -> None:
    holding = asyncio.Event()

    async def holder() -> None:
        async with gated.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES (1)"))
            holding.set()
            await asyncio.sleep(30)  # cancelled here, mid-transaction

    async def waiter() -> None:
        async with gated.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES (2)"))

    held = asyncio.create_task(holder())
    await holding.wait()
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.1)  # queued behind the holder
    waiting.cancel()
    held.cancel()
    await asyncio.gather(held, waiting, return_exceptions=True)
    async with asyncio.timeout(2), gated.begin() as conn:  # neither kept the gate
        await conn.execute(text("INSERT INTO t (v) VALUES (3)"))
    async with gated.connect() as conn:
        assert (await conn.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [3]
