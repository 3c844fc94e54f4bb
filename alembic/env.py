"""Alembic environment: migrates the gateway's database (MySQL/MariaDB or SQLite) through its async driver.

The database URL comes from `config.attributes["database_url"]` when wagate.db.migrate runs us, otherwise
from DATABASE_URL (environment, then .env). A caller may also hand over an open synchronous connection in
`config.attributes["connection"]` (e.g. from `AsyncConnection.run_sync`).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.sql.schema import DefaultClause

from wagate.db import Base
from wagate.db.engine import create_engine
from wagate.db.migrate import database_url_from_env
from wagate.db.types import StrEnumType, UTCDateTime, utc_now

config = context.config

# Only when run from the command line: inside the gateway, logging is structlog's and must not be reset.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render the gateway's column types as the frozen copies defined in script.py.mako, not as imports."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "TIMESTAMP"
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.length})"
    if type_ == "server_default" and isinstance(obj, DefaultClause) and isinstance(obj.arg, utc_now):
        return "now()"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    url = make_url(config.attributes.get("database_url") or database_url_from_env())
    context.configure(
        url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options(url.get_backend_name())
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    url = config.attributes.get("database_url") or database_url_from_env()
    engine = create_engine(url, poolclass=pool.NullPool, foreign_keys=False)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
