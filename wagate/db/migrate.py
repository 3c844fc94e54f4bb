"""Run the Alembic migrations from code: `upgrade`, `downgrade`, `current`, safe to call inside an event loop.

The migration scripts live in the repository's top-level `alembic/` folder. Alembic's env.py drives the
async drivers with `asyncio.run`, which cannot nest in a running loop; so when a loop is running in the
calling thread the command runs in a worker thread, and the caller blocks until it is done (migrations
run at start-up, before anything else may use the database). From a coroutine that must keep its loop
responsive, use `await asyncio.to_thread(upgrade, url)`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dotenv import dotenv_values
from sqlalchemy import pool
from sqlalchemy.engine import Connection

T = TypeVar("T")

ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


def database_url_from_env(env_file: str | Path = ".env") -> str:
    """DATABASE_URL from the environment, then `env_file`, else the gateway's default SQLite file."""
    url = os.environ.get("DATABASE_URL")
    if not url and Path(env_file).is_file():
        url = dotenv_values(env_file).get("DATABASE_URL")
    if url:
        return url
    data_dir = os.environ.get("DATA_DIR") or "data"
    return f"sqlite+aiosqlite:///{Path(data_dir) / 'wagate.db'}"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic Config for the gateway's migrations, without an ini file (so logging is left alone)."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("path_separator", "os")
    if database_url is not None:
        # Passed as an attribute, not as sqlalchemy.url: the ini parser would read "%" in a password as
        # interpolation.
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database up to `revision` (default: the newest)."""
    _outside_loop(lambda: command.upgrade(alembic_config(database_url), revision))


def downgrade(database_url: str, revision: str = "base") -> None:
    """Migrate the database down to `revision` (default: empty)."""
    _outside_loop(lambda: command.downgrade(alembic_config(database_url), revision))


def current(database_url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def run() -> str | None:
        from wagate.db.engine import create_engine

        engine = create_engine(database_url, poolclass=pool.NullPool)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return _outside_loop(lambda: asyncio.run(run()))


def head() -> str | None:
    """The newest revision among the migration scripts: what `upgrade` moves a database to."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _outside_loop(work: Callable[[], T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wagate-migrate") as executor:
        return executor.submit(work).result()
