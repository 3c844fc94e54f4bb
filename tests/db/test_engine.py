"""The engine's per-backend connection settings are in force on every new connection."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from wagate.db.engine import SQLITE_BUSY_TIMEOUT_MS, create_engine, create_sessionmaker


async def test_sqlite_connection_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'wagate.db'}")
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == SQLITE_BUSY_TIMEOUT_MS
    finally:
        await engine.dispose()
    assert (tmp_path / "sub" / "wagate.db").exists()


async def test_mariadb_connection_settings(mariadb_url: str) -> None:
    engine = create_engine(mariadb_url)
    try:
        async with create_sessionmaker(engine)() as session:
            row = (await session.execute(
                text("SELECT @@session.time_zone, @@session.tx_isolation, @@character_set_connection")
            )).one()
            assert tuple(row) == ("+00:00", "READ-COMMITTED", "utf8mb4")
    finally:
        await engine.dispose()
