"""`wagate run`: web, bridge shards and worker as supervised child processes on one machine.

Each part stays its own process, as in production: a Go panic inside neonize kills only the bridge,
which is restarted here with backoff while web and worker keep accepting and queueing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

import structlog

from wagate.config import Settings

log = structlog.get_logger("wagate.run")
STOP_GRACE_S = 30.0
RESTART_BACKOFF_S = (1, 2, 5, 10, 30)
STABLE_AFTER_S = 60.0  # a child that ran this long has its backoff reset


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    pids: list[int] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(self.argv, env=env)  # noqa: S603 - our own interpreter and module
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("started", part=self.name, pid=self.process.pid)


def children(settings: Settings) -> list[Child]:
    python = [sys.executable, "-m", "wagate"]
    parts = [Child("web", [*python, "web", "--drain", "0"])]  # the only web: no other one to drain to
    parts += [Child(f"bridge-{shard}", [*python, "bridge", "--shard", str(shard)])
              for shard in range(settings.bridge_shards)]
    parts.append(Child("worker", [*python, "worker"]))
    return parts


class Supervisor:
    """Starts the children, restarts any that dies, and stops them all on SIGINT/SIGTERM."""

    def __init__(self, parts: list[Child], env: dict[str, str]) -> None:
        self.parts = parts
        self.env = env
        self.stopping = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        for part in self.parts:
            part.start(self.env)
        while not self.stopping:
            self._tend()
            time.sleep(0.2)
        return self._stop_all()

    def _tend(self) -> None:
        now = time.monotonic()
        for part in self.parts:
            assert part.process is not None
            if part.restart_at is not None:
                if now >= part.restart_at:
                    part.start(self.env)
                continue
            code = part.process.poll()
            if code is None:
                continue
            part.failures = 0 if now - part.started_at > STABLE_AFTER_S else part.failures + 1
            delay = RESTART_BACKOFF_S[min(part.failures, len(RESTART_BACKOFF_S) - 1)]
            part.restart_at = now + delay
            log.error("exited; restarting", part=part.name, code=code, restart_in_s=delay)

    def _stop_all(self) -> int:
        log.info("stopping")
        running = [p.process for p in self.parts if p.process is not None and p.process.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("did not stop in time; killing", pid=process.pid)
                process.kill()
                process.wait()
        log.info("stopped")
        return 0


def child_environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    env["DATABASE_URL"] = settings.database_url
    return env
