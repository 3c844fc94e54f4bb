"""The async engine and session factory, tuned per backend; nothing is created until a function is called."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiomysql
from pymysql.constants import CLIENT, CR
from pymysql.err import OperationalError
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from wagate.config import Settings
from wagate.db.sqlite_writes import WriteGate
from wagate.db.tls import split_tls

# Long enough for a burst of writers from the other processes of a single-machine install to finish;
# short enough that a stuck writer surfaces as an error rather than a hung request.
SQLITE_BUSY_TIMEOUT_MS = 5000
# Connections kept open per process. SQLAlchemy's default (5, plus 10 opened and closed again as needed) made the
# worker's 50 jobs and the bridge's senders open and close a connection for most statements under load (each
# SQLite open runs its PRAGMAs, each MariaDB open a TCP handshake and a login), and run out of them at 15.
POOL_SIZE = 20
POOL_OVERFLOW = 20
# Below MySQL's default wait_timeout (8 h) and below the idle timeouts of the usual proxies/load balancers,
# so the pool never hands out a connection the server has already closed.
MYSQL_POOL_RECYCLE_S = 1800


def create_engine(
    source: Settings | str | URL, *, echo: bool = False, foreign_keys: bool = True, **options: Any
) -> AsyncEngine:
    """An AsyncEngine for `source` (Settings or a database URL); `options` go to create_async_engine.

    `foreign_keys=False` is for migrations on SQLite only: batch mode rebuilds a table by copying and
    dropping it, and with foreign keys on, the DROP would run the ON DELETE rules of its children.
    """
    url = make_url(source.database_url if isinstance(source, Settings) else source)
    if "poolclass" not in options and url.database not in (None, "", ":memory:"):
        options = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, **options}
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo, foreign_keys=foreign_keys, **options)
    if url.get_backend_name() in ("mysql", "mariadb"):
        return _mysql_engine(url, echo=echo, **options)
    raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite+aiosqlite or mysql+aiomysql")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """One AsyncSession per request or job; objects stay readable after commit (no implicit reload)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_engine(url: URL, *, echo: bool, foreign_keys: bool, **options: Any) -> AsyncEngine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, echo=echo, **options)

    # Transactions keep sqlite3's default (legacy) control on purpose: a transaction begins at the first
    # write, so a read-then-write unit never fails with SQLITE_BUSY_SNAPSHOT when another process (web,
    # bridge, worker) wrote in between; the write simply waits for the lock up to busy_timeout. The price:
    # SAVEPOINTs (begin_nested) are not reliable on SQLite, so services must not depend on them.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            # WAL: readers never block the writer, which the web processes reading while the bridge writes need.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses at most the last commit
            # Off by default in SQLite; the ON DELETE rules need it.
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    WriteGate(SQLITE_BUSY_TIMEOUT_MS / 1000).install(engine)
    return engine


def _mysql_engine(url: URL, *, echo: bool, **options: Any) -> AsyncEngine:
    url, tls = split_tls(url)  # TLS parameters would reach aiomysql as a dict it cannot use; a context instead
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    connect_args: dict[str, Any] = {
        # DATETIME columns hold UTC; CURRENT_TIMESTAMP server defaults must produce UTC too.
        "init_command": "SET time_zone = '+00:00'",
        **options.pop("connect_args", {}),
    }
    if tls is not None:
        connect_args |= {"ssl": tls.context(), "async_creator_fn": _connect_over_tls}
    settings: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_recycle": MYSQL_POOL_RECYCLE_S,
        # READ COMMITTED: the outbox, webhook and broadcast scans update rows other workers insert; InnoDB's
        # default REPEATABLE READ takes gap locks there and turns that traffic into deadlocks.
        "isolation_level": "READ COMMITTED",
        **options,
    }
    return create_async_engine(url, echo=echo, connect_args=connect_args, **settings)


class _TLSConnection(aiomysql.Connection):
    """An aiomysql connection that was asked for TLS and gets it, or fails before sending any credential.

    aiomysql alone carries on in plain text when the server does not offer TLS, which anyone between the two can
    arrange by clearing one bit of the server's greeting; and its "Can't connect" error hides why TLS failed.
    """

    async def _request_authentication(self) -> None:
        if not self.server_capabilities & CLIENT.SSL:
            raise OperationalError(CR.CR_SSL_CONNECTION_ERROR, f"TLS was asked for (DATABASE_URL ssl parameters) "
                                   f"but the server at {self._host}:{self._port} does not offer it")
        await super()._request_authentication()

    async def _connect(self) -> None:
        try:
            await super()._connect()
        except OperationalError as exc:
            cause = exc.__cause__
            if isinstance(cause, ssl.SSLError):  # certificate checks included
                raise OperationalError(exc.args[0], f"{exc.args[1]}: TLS failed: {cause}") from cause
            raise


async def _connect_over_tls(**kwargs: Any) -> aiomysql.Connection:
    """What `aiomysql.connect` does, with `_TLSConnection` (SQLAlchemy's aiomysql dialect calls it per connection)."""
    connection = _TLSConnection(**kwargs)
    await connection._connect()
    return connection
