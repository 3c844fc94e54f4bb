"""Fixtures for the gateway itself: a migrated database on each engine, Settings, the web app and its client.

Every test that takes `database_url` runs twice, on SQLite and on MariaDB. Migrating is slow on MariaDB,
so each engine is migrated once per test session: SQLite tests get a copy of a migrated template file,
MariaDB tests share one migrated database whose tables are emptied after each test.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.broker_servers import NatsProcess, RabbitMQProcess
from tests.servers import MariaDBProcess
from wagate.config import Settings, generate_fernet_key, load_settings
from wagate.db import migrate
from wagate.db.base import Base
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.logging import configure_logging
from wagate.web.app import create_app

SUITE_DATABASE = "wagate_suite"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "wagate.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def mysql_suite_url(mariadb: MariaDBProcess) -> str:
    if SUITE_DATABASE in mariadb.databases():
        mariadb.drop_database(SUITE_DATABASE)
    url = mariadb.create_database(SUITE_DATABASE)
    migrate.upgrade(url)
    return url


def _empty_mysql_tables(mariadb: MariaDBProcess) -> None:
    mariadb.ensure_running()
    # A connection a test left behind (an abandoned task, a killed worker) may still hold row locks in an open
    # transaction: end it, or every DELETE below waits for the lock timeout.
    for (connection_id,) in mariadb.execute(
        "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()", (SUITE_DATABASE,)
    ):
        with contextlib.suppress(Exception):
            mariadb.execute(f"KILL {int(connection_id)}")
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    connection = mariadb.connect(SUITE_DATABASE)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET FOREIGN_KEY_CHECKS=0")
            for table in tables:
                cursor.execute(f"DELETE FROM `{table}`")  # noqa: S608 - names from our own metadata
            cursor.execute("SET FOREIGN_KEY_CHECKS=1")
        connection.commit()
    finally:
        connection.close()


@pytest.fixture(params=["sqlite", "mysql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, then (second run of the test) the suite's MariaDB database."""
    if request.param == "sqlite":
        path = tmp_path / "wagate.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("mysql_suite_url")
    mariadb: MariaDBProcess = request.getfixturevalue("mariadb")
    _empty_mysql_tables(mariadb)
    yield url
    _empty_mysql_tables(mariadb)


def make_settings(tmp_path: Path, **environ: str) -> Settings:
    """Settings for a test: private folders under tmp_path, fresh secrets, the simulator transport."""
    base = {
        "WAGATE_ENV": "test",
        "DATA_DIR": str(tmp_path / "data"),
        "LOG_DIR": str(tmp_path / "logs"),
        "AUTH_SESSIONS_DIR": str(tmp_path / "auth_sessions"),
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "JWT_SECRET": secrets.token_urlsafe(40),
        "ENCRYPTION_KEY": generate_fernet_key(),
        "WA_TRANSPORT": "simulator",
        "LOG_FORMAT": "json",
    }
    return load_settings({**base, **environ}, env_file=None)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on the test's database, for arranging and checking rows directly."""
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def client(aiohttp_client: object, settings: Settings) -> TestClient:
    """The web app over real HTTP (aiohttp's test server on a local socket), logging into tmp_path/logs."""
    configure_logging(settings, "web")
    return await aiohttp_client(create_app(settings))  # type: ignore[operator]


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsProcess]:
    """One NATS server with JetStream for the session; tests may stop and start it again."""
    server = NatsProcess()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def rabbitmq_server() -> Iterator[RabbitMQProcess]:
    """One RabbitMQ node for the session; tests may stop and start it again."""
    server = RabbitMQProcess()
    server.start()
    yield server
    server.cleanup()
