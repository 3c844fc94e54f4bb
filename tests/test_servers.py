"""Tests of tests/servers.py: restarts keep the port and the data asked for, and no server outlives its owner."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pymysql
import pytest
import redis

from tests.servers import MariaDBProcess, ValkeyProcess

ROOT = Path(__file__).resolve().parent.parent


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """The process has ended (a zombie waiting for a reaper counts as ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_valkey_restart_keeps_port_and_clients_reconnect(valkey: ValkeyProcess) -> None:
    port, url = valkey.port, valkey.url
    client = redis.Redis.from_url(url)
    assert client.ping()
    took = valkey.restart()
    assert (valkey.port, valkey.url) == (port, url)
    assert took < 5
    assert client.ping()  # the same client, its pooled connection dropped by the restart
    client.close()


def test_valkey_start_twice_is_harmless(valkey: ValkeyProcess) -> None:
    pid = valkey.pid
    assert valkey.start() == 0.0
    assert valkey.pid == pid


def test_persistent_valkey_keeps_data_through_stop_and_kill(tmp_path: Path) -> None:
    server = ValkeyProcess(persistent=True, base_dir=tmp_path)
    try:
        server.start()
        with server.client() as client:
            client.set("kept", "1")
            server.stop()
            server.start()
            assert client.get("kept") == b"1"
            client.set("kept", "2")
            server.kill()
            server.start()
            assert client.get("kept") == b"2"
    finally:
        server.cleanup()
    assert tmp_path.exists()  # a directory the caller chose is left to the caller


def test_valkey_without_persistence_starts_empty(tmp_path: Path) -> None:
    server = ValkeyProcess(base_dir=tmp_path)
    try:
        server.start()
        with server.client() as client:
            client.set("lost", "1")
            server.restart()
            assert client.get("lost") is None
    finally:
        server.cleanup()


def test_valkey_kill_leaves_no_process(valkey: ValkeyProcess) -> None:
    pid = valkey.pid
    assert pid is not None
    valkey.kill()
    assert not valkey.is_running()
    assert _gone(pid, timeout=0.5)
    valkey.ensure_running()
    assert valkey.is_running() and valkey.pid != pid


def test_paused_valkey_times_out_then_resumes(redis_url: str, valkey: ValkeyProcess) -> None:
    with redis.Redis.from_url(redis_url, socket_timeout=0.3) as client:
        client.set("k", "v")
        valkey.pause()
        with pytest.raises(redis.TimeoutError):
            client.get("k")
        valkey.ensure_running()
        assert client.get("k") == b"v"


def test_redis_url_starts_empty(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set("left-behind", "1")  # the fixture must flush it


def test_mariadb_stop_start_and_kill_keep_data(mariadb: MariaDBProcess, mariadb_url: str) -> None:
    database = mariadb_url.rsplit("/", 1)[1].split("?")[0]
    port = mariadb.port
    with mariadb.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE kept (id INT PRIMARY KEY, body VARCHAR(20)) ENGINE=InnoDB")
        cursor.execute("INSERT INTO kept VALUES (1, 'before stop')")
    mariadb.stop()
    assert not mariadb.is_running()
    assert mariadb.start() < 30
    with mariadb.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO kept VALUES (2, 'before kill')")
    mariadb.kill()
    mariadb.start()
    assert mariadb.port == port
    with mariadb.connect(database) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, body FROM kept ORDER BY id")
        assert cursor.fetchall() == ((1, "before stop"), (2, "before kill"))


def test_mariadb_needs_a_password_over_tcp(mariadb: MariaDBProcess) -> None:
    assert f"{mariadb.user}:{mariadb.password}@127.0.0.1:{mariadb.port}/" in mariadb.url("x")
    for user, password in ((mariadb.user, ""), ("root", ""), ("", "")):
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host="127.0.0.1", port=mariadb.port, user=user, password=password, connect_timeout=5)


def test_mariadb_create_and_drop_database(mariadb: MariaDBProcess) -> None:
    url = mariadb.create_database("servers_selftest")
    assert url.endswith("/servers_selftest?charset=utf8mb4")
    assert "servers_selftest" in mariadb.databases()
    mariadb.drop_database("servers_selftest")
    assert "servers_selftest" not in mariadb.databases()
    with pytest.raises(ValueError):
        mariadb.create_database("x; DROP DATABASE mysql")


def test_mariadb_kill_leaves_no_process(mariadb: MariaDBProcess) -> None:
    pid = mariadb.pid
    assert pid is not None
    mariadb.kill()
    assert _gone(pid, timeout=0.5)
    # the autouse fixture restarts it for the next test


def _owner_script(body: str) -> list[str]:
    """A Python process that starts servers, prints their pids and base dirs, then waits to be signalled."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from tests.servers import MariaDBProcess, ValkeyProcess
        {body}
        print(" ".join(f"{{s.pid}}:{{s.base_dir}}" for s in servers), flush=True)
        time.sleep(60)
    """)
    return [sys.executable, "-c", code]


def _run_owner(body: str, signum: int) -> tuple[int, Path]:
    """Start servers in an owner process, signal the owner; return the first server's pid and base dir."""
    with subprocess.Popen(_owner_script(body), stdout=subprocess.PIPE, text=True) as owner:
        assert owner.stdout is not None
        pid, base_dir = owner.stdout.readline().split()[0].split(":", 1)
        owner.send_signal(signum)
        owner.wait(10)
    return int(pid), Path(base_dir)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_valkey_dies_with_its_owner(signum: signal.Signals) -> None:
    pid, base_dir = _run_owner("servers = [ValkeyProcess()]; servers[0].start()", signum)
    assert _gone(pid), f"valkey {pid} outlived its owner ended by {signum.name}"
    if signum == signal.SIGINT:  # the owner's atexit hook ran: its temporary directory is gone too
        assert not base_dir.exists()
    shutil.rmtree(base_dir, ignore_errors=True)  # a killed owner leaves it behind


@pytest.mark.slow
def test_mariadb_dies_with_its_owner() -> None:
    pid, base_dir = _run_owner("servers = [MariaDBProcess()]; servers[0].start()", signal.SIGKILL)
    assert _gone(pid), f"mariadbd {pid} outlived its owner"
    shutil.rmtree(base_dir, ignore_errors=True)
