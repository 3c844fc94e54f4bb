"""`python -m wagate …` (or a test entry point) as a real child process on a test's database, Redis and folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wagate.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WAGATE_", "DATABASE_", "REDIS_", "PROMETHEUS_", "METRICS_"))}
    env.update(
        WAGATE_ENV="test", DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url or "",
        WA_TRANSPORT="simulator", AUTH_SESSIONS_DIR=str(settings.auth_sessions_dir), DATA_DIR=str(settings.data_dir),
        LOG_DIR=str(settings.log_dir), UPLOAD_DIR=str(settings.upload_dir), JWT_SECRET=settings.jwt_secret,
        ENCRYPTION_KEY=settings.encryption_key, LOG_FORMAT="json", LOG_STDERR_LEVEL="INFO", SIMULATOR_SPEED="50",
        SEND_JITTER_MS="0",
    )
    env.update(extra)
    return env


class Child:
    """One child process, its output appended to `log_path`."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def wagate(cls, settings: Settings, log_path: Path, *args: str, **env: str) -> Child:
        return cls([sys.executable, "-m", "wagate", *args], process_env(settings, **env), log_path)

    def start(self) -> Child:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def terminate(self) -> float:
        """SIGTERM; returns the moment it was sent (time.monotonic())."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return time.monotonic()

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        """Leave nothing behind, whatever the test did."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def log_lines(log_dir: Path, event: str) -> list[dict[str, Any]]:
    """The JSON lines named `event` in a log folder's combined.log."""
    path = log_dir / "combined.log"
    lines = path.read_text().splitlines() if path.exists() else []
    found = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if item.get("event") == event:
            found.append(item)
    return found
