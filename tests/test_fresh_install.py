"""The proof that a fresh clone works: clone HEAD, copy .env.example to .env, `scripts/run` it, see it healthy,
SIGTERM it, nothing left behind.

The first start prints the dashboard URL and the generated admin login, whose password logs in; a second start of
the same install prints the URL and no password. The embedded Valkey keeps its data under the clone's `data/`.

Only committed work is tested: the clone is of HEAD, with a new .venv (pip's own cache is shared, nothing else).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
READY_WITHIN_S = 170  # clone + venv + install + first start; well under the 3 minutes a newcomer should wait
STOP_WITHIN_S = 30
# Settings a developer's shell may carry that would point the fresh install at someone else's state.
_FOREIGN_SETTINGS = ("DATABASE_URL", "REDIS_URL", "DATA_DIR", "LOG_DIR", "UPLOAD_DIR", "AUTH_SESSIONS_DIR",
                     "WAGATE_ENV", "HOST", "PUBLIC_URL", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")

pytestmark = pytest.mark.slow


@pytest.fixture
def clone() -> Iterator[Path]:
    """A fresh `git clone` of the committed HEAD, removed afterwards (its .venv is hundreds of megabytes)."""
    base = Path(tempfile.mkdtemp(prefix="wagate-fresh-"))
    target = base / "wagate"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=120,
                   stdin=subprocess.DEVNULL)
    yield target
    shutil.rmtree(base, ignore_errors=True)


def _environment(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_SETTINGS}
    own_venv = str(ROOT / ".venv")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(own_venv))
    env.update(PORT=str(port), WA_TRANSPORT="simulator", CI="true")
    return env


def _get(url: str, body: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET `url`, or POST `body` to it as JSON."""
    request = urllib.request.Request(url, method="GET" if body is None else "POST",  # noqa: S310 (local http)
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (a local http URL built here)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and _alive(process):
                members.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


# What `wagate run` prints on start (wagate/cli.py, cmd_run).
_DASHBOARD = re.compile(r"dashboard: (http://\S+/login\.html)")
_FIRST_LOGIN = re.compile(r"first start: admin login '(\w+)', password \(shown once\): (\S+)")


class _Run:
    """One `scripts/run` of the clone, its output in `log_path`, in a process group of its own."""

    def __init__(self, clone: Path, port: int, log_path: Path) -> None:
        self.log_path = log_path
        self.base = f"http://127.0.0.1:{port}"
        self.began = time.monotonic()
        self.leftovers: list[psutil.Process] = []
        with open(log_path, "wb") as log:
            # Started from outside the clone: the script must find its own repository.
            self.process = subprocess.Popen(["bash", str(clone / "scripts" / "run")], cwd=clone.parent,
                                            env=_environment(port), stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self) -> str:
        return _tail(self.log_path)

    def wait_healthy(self) -> float:
        """Seconds from the start until GET /health answered 200."""
        while True:
            assert self.process.poll() is None, f"scripts/run exited with {self.process.returncode}:\n{self.tail()}"
            assert time.monotonic() - self.began < READY_WITHIN_S, (
                f"no 200 from GET /health within {READY_WITHIN_S}s:\n{self.tail()}")
            try:
                if _get(f"{self.base}/health")[0] == 200:
                    return time.monotonic() - self.began
            except OSError:
                pass
            time.sleep(0.5)

    def stop(self) -> float:
        """SIGTERM the group; assert it exits 0 in time and leaves no process behind. Seconds it took."""
        run = self.process
        children = psutil.Process(run.pid).children(recursive=True)
        stop_began = time.monotonic()
        os.killpg(run.pid, signal.SIGTERM)
        try:
            code = run.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`wagate run` still running {STOP_WITHIN_S}s after SIGTERM:\n{self.tail()}")
        stopped_after = time.monotonic() - stop_began
        assert code == 0, f"`wagate run` exited with {code} on SIGTERM:\n{self.tail()}"

        time.sleep(0.5)  # children that exit with their parent may take a moment
        self.leftovers = [p for p in children if _alive(p)] + _group_members(run.pid)
        assert not self.leftovers, f"processes left after `wagate run` stopped: {[p.cmdline() for p in self.leftovers]}"
        return stopped_after

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for process in self.leftovers:
            if _alive(process):
                process.kill()


def test_fresh_clone_runs_answers_health_and_stops_cleanly(clone: Path) -> None:
    port = free_port()
    # What .env.example's first line tells a newcomer to do: its empty values must mean "not set".
    shutil.copy(clone / ".env.example", clone / ".env")
    first = _Run(clone, port, clone.parent / "run.log")
    try:
        ready_after = first.wait_healthy()

        status, body = _get(f"{first.base}/api/health")
        assert status == 200, f"GET /api/health answered {status}: {body[:500]!r}\n{first.tail()}"
        assert isinstance(json.loads(body), dict)

        output = first.output()
        dashboard = _DASHBOARD.search(output)
        assert dashboard and dashboard.group(1) == f"http://127.0.0.1:{port}/login.html", (
            f"no dashboard URL for port {port} in the output:\n{first.tail()}")
        login = _FIRST_LOGIN.search(output)
        assert login, f"the first start printed no admin login:\n{first.tail()}"
        username, password = login.groups()
        status, body = _get(f"{first.base}/api/auth/login", {"username": username, "password": password})
        assert status == 200, f"the printed admin login was refused ({status}): {body[:500]!r}"
        answer = json.loads(body)["data"]
        assert answer["access_token"] and answer["user"]["role"] == "admin"
        sent = _follow_the_quick_start(clone, port, password)

        stopped_after = first.stop()
    finally:
        first.kill()

    valkey = clone / "data" / "valkey"
    aof = valkey / "appendonlydir"
    assert (valkey / "users.acl").is_file() and (aof / "appendonly.aof.manifest").is_file(), (
        f"the embedded Valkey kept no data under data/valkey: {sorted(p.name for p in clone.glob('data/**/*'))}")
    assert sum(p.stat().st_size for p in aof.glob("appendonly.aof.*.incr.aof")) > 0, (
        "the embedded Valkey's append-only file under data/valkey is empty after a run")

    second = _Run(clone, port, clone.parent / "run-again.log")
    try:
        again_after = second.wait_healthy()
        output = second.output()
        assert _DASHBOARD.search(output), f"the second start printed no dashboard URL:\n{second.tail()}"
        assert "admin login" not in output and "shown once" not in output and password not in output, (
            f"the second start printed a password:\n{second.tail()}")
        second.stop()
    finally:
        second.kill()
    print(f"fresh clone healthy after {ready_after:.1f}s; stopped in {stopped_after:.1f}s; "
          f"started again in {again_after:.1f}s; the README's quick start sent a message ({sent})")


def _follow_the_quick_start(clone: Path, port: int, password: str) -> str:
    """Run the README's "Try it without a phone" commands as written (the port and the printed password filled in):
    fewer than five, they link a simulator session and send a message that WhatsApp accepts. Its status."""
    readme = (clone / "README.md").read_text()
    block = readme.split("<!-- quick-start -->", 1)[1].split("<!-- /quick-start -->", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("```")]
    assert len(commands) < 5, commands
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_SETTINGS}

    def run(command: str) -> str:
        command = command.replace("localhost:3000", f"127.0.0.1:{port}").replace("PASTE-THE-PRINTED-PASSWORD", password)
        done = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done.stdout

    login, create, scan, send = commands
    env["TOKEN"] = run(login.replace("TOKEN=$(", "", 1).rsplit(")", 1)[0]).strip()
    assert json.loads(run(create))["success"] is True
    for _ in range(20):  # the README: a scan before the QR code shows is refused with the reason; run it again
        answer = json.loads(run(scan))
        if answer["success"]:
            break
        assert "no QR code is on screen" in answer["message"], answer
        time.sleep(0.5)
    assert answer["success"] and answer["data"]["done"] is True, answer
    queued = json.loads(run(send))
    assert queued["success"] and queued["data"]["status"] == "queued", queued
    headers = {"Authorization": f"Bearer {env['TOKEN']}"}
    for _ in range(60):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/messages/{queued['data']['id']}",
                                         headers=headers)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (a local http URL built here)
            status = str(json.loads(response.read())["data"]["status"])
        if status in ("sent", "delivered", "read"):
            return status
        time.sleep(0.5)
    raise AssertionError(f"the quick start's message stayed {status}")
