"""The gateway as the README's Deployment deploys it: the shipped supervisord.conf and nginx.conf, run for real.

A folder stands for WAGATE_HOME (its .venv a link to this checkout's, its .env written here); nginx.conf is included
as a distribution's http block includes it, with only the install-specific values (listen port, upstream ports, the
public/ path) rewritten.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

from tests.servers import find_binary, free_port

ROOT = Path(__file__).resolve().parents[1]


def nginx_binary() -> str:
    """nginx's path; ServerError (tests.servers) when it is not installed (scripts/test installs nginx-light)."""
    return find_binary("nginx")


def free_port_is(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_pair() -> int:
    """A port P with P+1 free too (web processes 0 and 1 listen on PORT+N)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and free_port_is(port + 1):
            return port
    raise AssertionError("no two consecutive free ports")


def site_conf(ports: list[int], listen: int, tls: str | None = None) -> str:
    """nginx.conf with this machine's values in place of the documented ones (the upstreams keep their settings)."""
    text = (ROOT / "nginx.conf").read_text()
    text = text.replace("listen 80 default_server;", f"listen 127.0.0.1:{listen} default_server;")
    text = text.replace("    listen [::]:80 default_server;\n", "")
    shipped = re.findall(r"    server 127\.0\.0\.1:300\d ([^\n]*)\n", text)
    upstreams = "".join(f"    server 127.0.0.1:{p} {shipped[0]}\n" for p in ports)
    text = re.sub(r"(    server 127\.0\.0\.1:300\d [^\n]*\n)+", upstreams, text)
    text = text.replace("/srv/wagate/public", str(ROOT / "public"))
    if tls:  # uncomment the TLS server as the README says, with a test certificate
        head, _, block = text.partition("# server {")
        block = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in ("# server {" + block)
                          .splitlines())
        block = block.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{free_port()} ssl http2;")
        block = block.replace("    listen [::]:443 ssl http2;\n", "")
        block = re.sub(r"/etc/letsencrypt/live/wa\.example\.com/(\w+)\.pem", tls + r"/\1.pem", block)
        text = head + block
    return text


def main_conf(home: Path, site: Path) -> str:
    logs = home / "logs"
    return (f"worker_processes 1;\npid {home}/nginx.pid;\nerror_log {logs}/nginx-error.log warn;\n"
            + ("user root;\n" if os.geteuid() == 0 else "")
            + f"events {{ worker_connections 256; }}\nhttp {{\n    access_log {logs}/nginx-access.log;\n"
            + "".join(f"    {kind}_temp_path {home}/nginx-{kind};\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"    include {site};\n}}\n")


class SupervisedHost:
    """supervisord (web ×2, bridge, worker) and nginx in front, in `home`, with `settings` as its .env."""

    def __init__(self, home: Path, settings: dict[str, str]) -> None:
        self.home = home
        self.base = free_pair()
        self.web_ports = [self.base, self.base + 1]
        self.nginx_port = free_port()
        self.settings = {"PORT": str(self.base), **settings}
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "WAGATE_HOME": str(home),
                    "LANG": "C.UTF-8"}
        self._supervisord: subprocess.Popen[bytes] | None = None
        self._nginx: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def start(self) -> None:
        home = self.home
        for folder in ("data", "logs"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        if not (home / ".venv").exists():
            (home / ".venv").symlink_to(ROOT / ".venv")
        shutil.copyfile(ROOT / "supervisord.conf", home / "supervisord.conf")
        (home / ".env").write_text("".join(f"{k}={v}\n" for k, v in self.settings.items()))
        with (home / "logs/supervisord.out").open("wb") as out:
            self._supervisord = subprocess.Popen([str(ROOT / "scripts/supervisord"), "-n"], env=self.env, cwd=home,
                                                 stdout=out, stderr=subprocess.STDOUT)
        site = home / "site.conf"
        site.write_text(site_conf(self.web_ports, self.nginx_port))
        (home / "nginx.conf").write_text(main_conf(home, site))
        with (home / "logs/nginx.out").open("wb") as out:
            self._nginx = subprocess.Popen([nginx_binary(), "-p", str(home), "-c", str(home / "nginx.conf"), "-g",
                                            "daemon off;"], stdout=subprocess.DEVNULL, stderr=out)

    def supervisorctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / ".venv/bin/supervisorctl"), "-c", str(self.home / "supervisord.conf"),
                               *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def wagate(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`.venv/bin/wagate ARGS` run in WAGATE_HOME, as the README has the operator run it."""
        return subprocess.run([str(self.home / ".venv/bin/wagate"), *args], env=self.env, cwd=self.home,
                              capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        if self._supervisord is not None and self._supervisord.poll() is None:
            self.supervisorctl("shutdown", timeout=150)
            try:
                self._supervisord.wait(timeout=150)
            except subprocess.TimeoutExpired:
                self._supervisord.kill()
                self._supervisord.wait()
        if self._nginx is not None:
            self._nginx.terminate()
            self._nginx.wait(timeout=10)
