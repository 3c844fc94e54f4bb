"""supervisord.conf and nginx.conf for real: web×2 + bridge + worker under supervisord, answering through nginx.

nginx.conf is included as the distribution's http block would include it, with only the install-specific values
(listen port, upstream ports, the public/ path) rewritten for the test.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from arq.connections import ArqRedis

from tests.observability.processes import log_lines
from tests.servers import find_binary, free_port
from wagate.config import SettingsSchema, generate_fernet_key
from wagate.queue.names import WORKER_QUEUE, bridge_queue
from wagate.web.app import redis_client

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CLIENT = "127.0.0.5"  # a caller that is not the proxy: loopback has all of 127/8


def nginx_binary() -> str:
    try:
        return find_binary("nginx")
    except Exception:
        pytest.skip("nginx is not installed (scripts/test installs nginx-light)")


def free_pair() -> int:
    """A port P with P+1 free too (web processes 0 and 1 listen on PORT+N)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and free_port_is(port + 1):
            return port
    raise AssertionError("no two consecutive free ports")


def free_port_is(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def site_conf(ports: list[int], listen: int, tls: str | None = None) -> str:
    """nginx.conf with this machine's values in place of the documented ones."""
    text = (ROOT / "nginx.conf").read_text()
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};").replace("    listen [::]:80;\n", "")
    upstreams = "".join(f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in ports)
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


def self_signed(folder: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wa.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (folder / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "privkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def test_nginx_conf_is_valid_and_its_tls_server_is_ready(tmp_path: Path) -> None:
    nginx = nginx_binary()
    (tmp_path / "logs").mkdir()
    self_signed(tmp_path)
    for tls in (None, str(tmp_path)):
        site = tmp_path / "site.conf"
        site.write_text(site_conf([3000, 3001], free_port(), tls))
        (tmp_path / "nginx.conf").write_text(main_conf(tmp_path, site))
        check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr


def test_the_body_limit_matches_max_upload_mb() -> None:
    default_mb = SettingsSchema().fields["max_upload_mb"].load_default
    sizes = set(re.findall(r"client_max_body_size (\d+)m;", (ROOT / "nginx.conf").read_text()))
    assert sizes == {str(default_mb + 1)}  # the upload plus its multipart envelope; the app refuses above


@dataclass
class Host:
    home: Path
    env: dict[str, str]
    web_ports: list[int]
    nginx_port: int
    redis_url: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def supervisorctl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / ".venv/bin/supervisorctl"), "-c", str(self.home / "supervisord.conf"),
                               *args], env=self.env, capture_output=True, text=True, timeout=timeout)


async def until_answers(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@pytest.fixture
def host(tmp_path: Path, sqlite_template: Path, redis_url: str) -> Iterator[Host]:
    if not (ROOT / ".venv/bin/supervisord").exists():
        pytest.skip("supervisor is not installed in .venv (pip install -e .[test])")
    nginx = nginx_binary()
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "logs").mkdir()
    (home / ".venv").symlink_to(ROOT / ".venv")
    shutil.copyfile(ROOT / "supervisord.conf", home / "supervisord.conf")
    shutil.copyfile(sqlite_template, home / "data" / "wagate.db")
    base = free_pair()
    (home / ".env").write_text("\n".join([
        "WAGATE_ENV=test", f"PORT={base}", f"REDIS_URL={redis_url}", "WA_TRANSPORT=simulator", "LOG_FORMAT=json",
        f"JWT_SECRET={'j' * 8}{os.urandom(16).hex()}", f"ENCRYPTION_KEY={generate_fernet_key()}",
        "METRICS_ALLOW_IPS=127.0.0.1/32", "RATE_LIMIT_LOGIN=3/15minute", "TRUSTED_PROXIES=127.0.0.1",
    ]) + "\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "WAGATE_HOME": str(home),
           "LANG": "C.UTF-8"}
    with (home / "logs/supervisord.out").open("wb") as out:
        supervisord = subprocess.Popen([str(ROOT / "scripts/supervisord"), "-n"], env=env, cwd=home, stdout=out,
                                       stderr=subprocess.STDOUT)
    nginx_port = free_port()
    site = home / "site.conf"
    site.write_text(site_conf([base, base + 1], nginx_port))
    (home / "nginx.conf").write_text(main_conf(home, site))
    with (home / "logs/nginx.out").open("wb") as out:
        server = subprocess.Popen([nginx, "-p", str(home), "-c", str(home / "nginx.conf"), "-g", "daemon off;"],
                                  stdout=subprocess.DEVNULL, stderr=out)
    found = Host(home, env, [base, base + 1], nginx_port, redis_url)
    try:
        yield found
    finally:
        if supervisord.poll() is None:
            found.supervisorctl("shutdown", timeout=150)
            try:
                supervisord.wait(timeout=150)
            except subprocess.TimeoutExpired:
                supervisord.kill()
                supervisord.wait()
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
async def arq(host: Host) -> AsyncIterator[ArqRedis]:
    client = redis_client(host.redis_url)
    yield client
    await client.aclose(close_connection_pool=True)


async def pong(redis: ArqRedis, queue: str) -> None:
    job = await redis.enqueue_job("ping", _queue_name=queue)
    assert job is not None
    assert await job.result(timeout=60) == "pong"


def sample(text: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and item.labels == labels:
                return float(item.value)
    return 0.0


async def test_supervisord_runs_the_gateway_behind_nginx_and_stops_it_in_time(host: Host, arq: ArqRedis) -> None:
    started = time.monotonic()
    for port in host.web_ports:
        await until_answers(f"http://127.0.0.1:{port}/health", timeout=60)
    await until_answers(f"{host.url}/health", timeout=10)
    await pong(arq, WORKER_QUEUE)
    await pong(arq, bridge_queue(0))
    print(f"web×2, bridge and worker answering {time.monotonic() - started:.1f} s after supervisord started")
    # supervisord calls a program RUNNING only after its startsecs (the bridge's are 5 s), even once it answers.
    deadline = time.monotonic() + 30
    status = host.supervisorctl("status").stdout
    while len(re.findall(r"RUNNING", status)) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        status = host.supervisorctl("status").stdout
    assert len(re.findall(r"RUNNING", status)) == 4, status

    async with aiohttp.ClientSession() as http:
        for _ in range(6):
            async with http.get(f"{host.url}/health") as response:
                assert response.status == 200 and "X-Request-ID" in response.headers  # the gateway answered
        async with http.get(f"{host.url}/css/app.css") as response:  # nginx answers from public/ itself
            assert response.status == 200 and "X-Request-ID" not in response.headers
            assert response.headers["Content-Type"].startswith("text/css")
            assert response.headers["Cache-Control"] == "no-cache"
        async with http.get(f"{host.url}/js/api.js") as response:
            assert response.headers["Content-Type"].startswith("text/javascript")
        async with http.ws_connect(f"{host.url}/api/events") as socket:  # upgraded through nginx
            await socket.send_json({"type": "auth", "token": "not-a-token"})
            closing = await socket.receive(timeout=10)
            assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.TEXT)
        async with http.post(f"{host.url}/api/messages/send", data=io.BytesIO(b"x" * (18 * 2**20))) as response:
            assert response.status == 413  # nginx refuses before the body reaches a web process
        scraped = time.monotonic()
        async with http.get(f"{host.url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        print(f"scrape through nginx: {(time.monotonic() - scraped) * 1000:.1f} ms, {len(text)} bytes")

    # One scrape of one web process shows what the worker, the bridge and both web processes recorded.
    for queue in (WORKER_QUEUE, bridge_queue(0)):
        assert sample(text, "wagate_job_duration_seconds_count", queue=queue, function="ping", outcome="success") >= 1
    health = sample(text, "wagate_http_request_duration_seconds_count", method="GET", route="/health",
                    status_class="2xx")
    assert health >= 6 + len(host.web_ports)
    pids = {line["pid"] for line in log_lines(host.home / "logs", "request") if line["path"] == "/health"}
    assert len(pids) == 2  # both web processes served requests through nginx

    stopping = time.monotonic()
    result = host.supervisorctl("stop", "all")
    took = time.monotonic() - stopping
    print(f"supervisorctl stop all: {took:.1f} s")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RUNNING" not in host.supervisorctl("status").stdout
    assert took < 40  # well within the stop times; nothing was killed
    assert "killed" not in (host.home / "logs/supervisord.log").read_text().lower()


async def test_a_forged_x_forwarded_for_does_not_dodge_limits_through_nginx_or_around_it(host: Host) -> None:
    await until_answers(f"{host.url}/health", timeout=60)
    for target, username in ((host.url, "via-nginx"), (f"http://127.0.0.1:{host.web_ports[0]}", "direct")):
        connector = aiohttp.TCPConnector(local_addr=(CLIENT, 0), force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            statuses = []
            for n in range(4):  # RATE_LIMIT_LOGIN=3/15minute, a new forged address each time
                async with http.post(f"{target}/api/auth/login", json={"username": username, "password": "wrong"},
                                     headers={"X-Forwarded-For": f"198.51.100.{n}"}) as response:
                    statuses.append(response.status)
        assert statuses == [401, 401, 401, 429], (target, statuses)
    security = [json.loads(line) for line in (host.home / "logs" / "security.log").read_text().splitlines()]
    seen = {line["ip"] for line in security if line.get("event") in ("login failed", "rate limit reached")}
    assert seen == {CLIENT}  # nginx's view of the caller, or the peer itself; never the forged header


def test_ci_runs_the_lint_before_the_tests_and_the_lint_passes() -> None:
    """`.ci/run` lints first (a failing lint fails CI), and the shipped lint command passes on the tree."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line.split()[0] for line in ci if line and not line.startswith(("#", "set ", "cd "))]
    assert steps[:2] == ["scripts/lint", "exec"] and "scripts/test" in ci[-1], ci
    done = subprocess.run(["bash", str(ROOT / "scripts" / "lint")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
