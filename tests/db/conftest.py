"""Fixtures for the storage tests: a private MariaDB server for the session, and a fresh database per test.

Contract of `mariadb_url_factory` (kept small so the shared fixture in tests/conftest.py can replace it):
calling it returns the URL `mysql+aiomysql://wagate:wagate-test@127.0.0.1:<port>/<name>` of a new, empty
utf8mb4 database; every database it made is dropped when the test ends. `database_url` runs a test once on
SQLite (a file in tmp_path) and once on MariaDB.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
USER, PASSWORD = "wagate", "wagate-test"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class MariaDBServer:
    port: int
    socket: Path
    process: subprocess.Popen[bytes]

    def admin(self) -> pymysql.connections.Connection:
        """A root connection over the socket, for creating and dropping databases."""
        return pymysql.connect(unix_socket=str(self.socket), user="root", autocommit=True)

    def url(self, database: str) -> str:
        return f"mysql+aiomysql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"


def _listening(path: Path) -> bool:
    # Probe with our own socket first: PyMySQL leaks its socket when connect() itself fails.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBServer]:
    if not Path(MARIADBD).exists():
        pytest.skip("mariadbd is not installed (apt-get install mariadb-server)")
    base = tmp_path_factory.mktemp("mariadb")
    datadir, log = base / "data", base / "mariadbd.log"
    subprocess.run(
        [INSTALL_DB, "--no-defaults", f"--datadir={datadir}", "--user=root",
         "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
        check=True, capture_output=True,
    )
    port, sock = _free_port(), base / "mariadbd.sock"
    process = subprocess.Popen(
        [MARIADBD, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={port}",
         f"--pid-file={base / 'mariadbd.pid'}", f"--log-error={log}", "--user=root",
         "--skip-networking=0", "--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin",
         "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
         # Test data is disposable: trade durability for speed.
         "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
         "--sync-binlog=0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = MariaDBServer(port=port, socket=sock, process=process)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if not _listening(sock):
                    raise pymysql.err.OperationalError("not listening yet")
                with server.admin() as conn, conn.cursor() as cur:
                    cur.execute(f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
                    cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'")
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def mariadb_url_factory(mariadb_server: MariaDBServer) -> Iterator[Callable[[], str]]:
    names: list[str] = []

    def make() -> str:
        name = f"wagate_test_{uuid.uuid4().hex[:12]}"
        with mariadb_server.admin() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        names.append(name)
        return mariadb_server.url(name)

    yield make
    with mariadb_server.admin() as conn, conn.cursor() as cur:
        for name in names:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(params=["sqlite", "mariadb"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a new MariaDB database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'wagate.db'}"
    factory: Callable[[], str] = request.getfixturevalue("mariadb_url_factory")
    return factory()
