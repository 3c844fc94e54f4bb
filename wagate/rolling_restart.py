"""`wagate rolling-restart`: restart every program of a supervisord install one process at a time, dropping nothing.

First `reread` + `update`, so a changed supervisord.conf (more bridge shards, another command) takes effect: only
the programs whose section changed are replaced. Then each web process in turn: restarted (it drains first, see
`wagate.web.serve`), then awaited until it answers on its port, then given `settle_s` so nginx, which skipped it
while it refused connections (`fail_timeout`), sends it requests again before the next one goes down. The other web
processes carry the traffic meanwhile. Then each bridge (it releases its sessions' leases on stop, its queue waits)
and each worker, one at a time. Programs that `update` just replaced are not restarted again.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WEB, BRIDGE, WORKER = "wagate-web", "wagate-bridge", "wagate-worker"
ORDER = (WEB, BRIDGE, WORKER)
READY_WITHIN_S = 90.0
SETTLE_S = 3.0  # above nginx.conf's fail_timeout (2 s): nginx uses a restarted web process again before the next stops


class RestartFailed(RuntimeError):
    """A step of the rolling restart did not succeed; the processes not yet restarted are untouched."""


@dataclass(frozen=True)
class Process:
    group: str
    name: str
    state: str

    @property
    def spec(self) -> str:
        return f"{self.group}:{self.name}"

    @property
    def number(self) -> int:
        found = re.search(r"-(\d+)$", self.name)
        return int(found.group(1)) if found else 0


def supervisorctl_binary() -> str:
    """supervisorctl beside this interpreter (the install's .venv), else on PATH."""
    beside = Path(sys.executable).parent / "supervisorctl"
    if beside.exists():
        return str(beside)
    found = shutil.which("supervisorctl")
    if found is None:
        raise RestartFailed("supervisorctl not found: install supervisor into .venv (pip install supervisor)")
    return found


class Supervisor:
    """supervisorctl against one supervisord.conf."""

    def __init__(self, config: Path, binary: str | None = None) -> None:
        self.config = config
        self.binary = binary or supervisorctl_binary()

    def run(self, *args: str, timeout: float = 150) -> str:
        done = subprocess.run([self.binary, "-c", str(self.config), *args], capture_output=True, text=True,  # noqa: S603
                              timeout=timeout, check=False)
        out = done.stdout + done.stderr
        # `status` exits 3 when some process is not running; that is an answer, not a failure
        if "ERROR" in out or (done.returncode not in (0, 3)):
            raise RestartFailed(f"supervisorctl {' '.join(args)} failed ({done.returncode}): {out.strip()}")
        return out

    def processes(self) -> list[Process]:
        found = []
        for line in self.run("status").splitlines():
            match = re.match(r"^(\S+):(\S+)\s+(\S+)", line)
            if match and match.group(1) in ORDER:
                found.append(Process(*match.groups()))
        return sorted(found, key=lambda p: (ORDER.index(p.group), p.number))

    def apply_config(self) -> set[str]:
        """`reread` and `update`; the programs (groups) update replaced."""
        changed = {m.group(1) for m in re.finditer(r"^(\S+): (?:changed|available)", self.run("reread"), re.M)}
        self.run("update")
        return changed


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local http URL built here
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise RestartFailed(f"{what} within {within_s:.0f} s")
        time.sleep(0.2)


def rolling_restart(supervisor: Supervisor, port: int, *, host: str = "127.0.0.1", settle_s: float = SETTLE_S,
                    say: Callable[[str], None] = print) -> list[str]:
    """Restart every process as the module says; the names restarted, in order."""
    replaced = supervisor.apply_config()
    if replaced:
        say(f"supervisord.conf changed: replaced {', '.join(sorted(replaced))}")
    done = []
    for process in supervisor.processes():
        if process.group in replaced:
            continue
        say(f"restarting {process.name}")
        began = time.monotonic()
        supervisor.run("restart", process.spec)
        if process.group == WEB:
            address = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - the wildcard, compared
            url = f"http://{f'[{address}]' if ':' in address else address}:{port + process.number}/health"
            wait_until(functools.partial(answers, url), READY_WITHIN_S, f"{process.name} did not answer {url}")
            time.sleep(settle_s)
        say(f"{process.name} back in {time.monotonic() - began:.1f} s")
        done.append(process.name)
    return done
