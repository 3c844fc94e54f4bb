"""What the benches share: a private stack (Valkey, SQLite or MariaDB, folders), child processes and load runs.

Everything listens on 127.0.0.1 and is stopped when the bench ends (child processes are killed at exit, and
the servers of `tests.servers` die with the process that started them).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.servers import MariaDBProcess, ValkeyProcess, free_port  # noqa: F401 - re-exported for the benches
from wagate.config import Settings, generate_fernet_key, load_settings
from wagate.db import migrate
from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.services.identity.credentials import hash_token, new_token
from wagate.transport.base import Account
from wagate.transport.simulator import wire

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# Pacing off: the benches measure the gateway, not WhatsApp's manners.
NO_PACING = {"SEND_GAP_MS": "0", "BULK_GAP_MS": "0", "SEND_JITTER_MS": "0", "TYPING_MS_PER_CHAR": "0"}


class Stack:
    """A private Valkey and database, the folders and the environment every child process of a bench shares."""

    def __init__(self, *, mariadb: bool = False, persistent_redis: bool = False,
                 environ: dict[str, str] | None = None) -> None:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # `timeout`, `kill`: unwind so `close()` runs
            signal.signal(signal.SIGTERM, _exit_on_term)
        self.base = Path(tempfile.mkdtemp(prefix="wagate-bench-"))
        if not os.environ.get("BENCH_KEEP"):
            atexit.register(shutil.rmtree, self.base, True)
        self.valkey = ValkeyProcess(persistent=persistent_redis, base_dir=self.base / "valkey")
        self.valkey.start()
        self.mariadb: MariaDBProcess | None = None
        if mariadb:
            self.mariadb = MariaDBProcess(base_dir=self.base / "mariadb")
            self.mariadb.start()
            database_url = self.mariadb.create_database("wagate")
        else:
            database_url = f"sqlite+aiosqlite:///{self.base / 'wagate.db'}"
        migrate.upgrade(database_url)
        self.env: dict[str, str] = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("WAGATE_", "DATABASE_", "REDIS_", "PROMETHEUS_", "METRICS_", "SEND_", "BULK_"))
        }
        self.env.update(
            WAGATE_ENV="test", DATABASE_URL=database_url, REDIS_URL=self.valkey.url, WA_TRANSPORT="simulator",
            DATA_DIR=str(self.base / "data"), LOG_DIR=str(self.base / "logs"),
            AUTH_SESSIONS_DIR=str(self.base / "auth_sessions"), UPLOAD_DIR=str(self.base / "uploads"),
            JWT_SECRET=secrets.token_urlsafe(40), ENCRYPTION_KEY=generate_fernet_key(), LOG_FORMAT="json",
            # The benches drive the API with one admin key: the per-route limits, which count per key too, would
            # cap them at a few dozen requests (admin keys have no role limit).
            RATE_LIMIT_SEND="none", RATE_LIMIT_BROADCAST="none", RATE_LIMIT_QR="none", RATE_LIMIT_DASHBOARD="none",
            RATE_LIMIT_SESSION="none",
        )
        self.env.update(environ or {})
        self.children: list[Child] = []

    @property
    def settings(self) -> Settings:
        return load_settings({k: v for k, v in self.env.items() if k.isupper()}, env_file=None)

    def child(self, name: str, *args: str, **environ: str) -> Child:
        child = Child(name, [PYTHON, *args], {**self.env, **environ}, self.base / f"{name}.out")
        self.children.append(child)
        return child

    def wagate(self, name: str, *args: str, **environ: str) -> Child:
        return self.child(name, "-m", "wagate", *args, **environ)

    def close(self) -> None:
        for child in self.children:
            child.stop()
        self.valkey.cleanup()
        if self.mariadb is not None:
            self.mariadb.cleanup()
        if os.environ.get("BENCH_KEEP"):  # keep the logs and records for a look afterwards
            print(f"kept {self.base}")
            return
        shutil.rmtree(self.base, ignore_errors=True)


def run_on_stack(run: Callable[[Stack, argparse.Namespace], Coroutine[Any, Any, int]], args: argparse.Namespace,
                 **options: Any) -> int:
    """`run(stack, args)` on a new Stack (MariaDB with `args.mariadb`), closed whatever happens; its exit status."""
    stack = Stack(mariadb=getattr(args, "mariadb", False), **options)
    try:
        return asyncio.run(run(stack, args))
    finally:
        stack.close()


def _exit_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class Child:
    """One child process of a bench; its output goes to a file, and it is killed at exit whatever happens."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    def start(self) -> Child:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def wait_http(url: str, within_s: float = 30.0, child: Child | None = None) -> None:
    """Until `url` answers anything over HTTP."""
    import aiohttp

    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                if time.monotonic() > deadline or (child is not None and not child.alive()):
                    raise RuntimeError(f"{url} did not answer\n{child.tail() if child else ''}") from None
                await asyncio.sleep(0.1)


async def add_linked_sessions(db: async_sessionmaker[AsyncSession], settings: Settings, ids: Sequence[str],
                              status: SessionStatus = SessionStatus.STARTING) -> None:
    """Sessions linked in the simulator (a link file, so the bridge reconnects them without a QR), live in the DB."""
    async with db() as session, session.begin():
        for n, session_id in enumerate(ids):
            phone = f"62811{n:07d}"
            wire.save_link(settings.auth_sessions_dir, session_id,
                           Account(jid=f"{phone}:2@s.whatsapp.net", phone=phone, lid=wire.lid_for(phone),
                                   push_name=session_id, platform="android"))
            session.add(WaSession(id=session_id, name=session_id, token_hash=hash_token(new_token()), status=status))


def proc_kib(pid: int, field: str) -> int:
    """One memory figure of a process from /proc/<pid>/status, in KiB: VmRSS (now) or VmHWM (peak)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def proc_mb(pid: int, field: str) -> float:
    """`proc_kib` in MB (10^6 bytes), the unit of the memory targets."""
    return proc_kib(pid, field) * 1024 / 1e6


def reset_peak_rss(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux's clear_refs 5), so a round's peak is its own."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def py_spy(pid: int, seconds: float, out: str) -> subprocess.Popen[bytes]:
    """Start py-spy recording a process's raw stacks (200 Hz) into `out` for `seconds`; wait() for the file."""
    binary = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
    return subprocess.Popen([binary, "record", "-p", str(pid), "-d", str(round(seconds)), "-r", "200", "-f", "raw",
                             "-o", out, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


# --- load generation ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers and socket errors
    tool: str


_WRK_LUA = """
wrk.method = "POST"
wrk.body = {body}
{headers}
"""
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_load(url: str, body: dict[str, Any], headers: dict[str, str], *, connections: int, seconds: float,
             workdir: Path) -> LoadResult:
    """POST `body` to `url` on `connections` connections for `seconds`: wrk when installed, else an aiohttp loop.

    Either way the load comes from a separate process, so it does not share the event loop it measures.
    """
    if shutil.which("wrk"):
        return _wrk(url, body, headers, connections=connections, seconds=seconds, workdir=workdir)
    return _aiohttp_load(url, body, headers, connections=connections, seconds=seconds)


def _wrk(url: str, body: dict[str, Any], headers: dict[str, str], *, connections: int, seconds: float,
         workdir: Path) -> LoadResult:
    script = workdir / "post.lua"
    header_lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    script.write_text(_WRK_LUA.format(body=json.dumps(json.dumps(body)), headers=header_lines))
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "--latency", "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout
    latency = dict(re.findall(r"^ +(50|99)% +(\S+)\s*$", out, re.M))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"wrk printed no latency distribution:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return LoadResult(rps, _ms(latency["50"]), _ms(latency["99"]), requests, errors, "wrk")


_LOOP = r"""
import asyncio, json, sys, time
import aiohttp

async def main(url, body, headers, connections, seconds):
    latencies, errors = [], 0
    deadline = time.monotonic() + seconds
    data = json.dumps(body).encode()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as http:
        async def lane():
            nonlocal errors
            while time.monotonic() < deadline:
                began = time.monotonic()
                try:
                    async with http.post(url, data=data, headers=headers) as response:
                        await response.read()
                        if response.status >= 300:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1
                latencies.append(time.monotonic() - began)
        began = time.monotonic()
        await asyncio.gather(*(lane() for _ in range(connections)))
        took = time.monotonic() - began
    print(json.dumps({"latencies": latencies, "errors": errors, "took": took}))

args = json.loads(sys.argv[1])
asyncio.run(main(**args))
"""


def _aiohttp_load(url: str, body: dict[str, Any], headers: dict[str, str], *, connections: int,
                  seconds: float) -> LoadResult:
    args = json.dumps({"url": url, "body": body, "headers": {"Content-Type": "application/json", **headers},
                       "connections": connections, "seconds": seconds})
    out = subprocess.run([PYTHON, "-c", _LOOP, args], capture_output=True, text=True, timeout=seconds + 120,
                         check=True).stdout
    result = json.loads(out)
    latencies = [x * 1000 for x in result["latencies"]]
    return LoadResult(len(latencies) / result["took"], percentile(latencies, 50), percentile(latencies, 99),
                      len(latencies), result["errors"], "aiohttp loop")


def run_sync(coro: Any) -> Any:
    """asyncio.run, quiet about a Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(coro)
    return None
