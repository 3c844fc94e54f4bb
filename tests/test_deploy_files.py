"""supervisord.conf and nginx.conf for real: web×2 + bridge + worker under supervisord, answering through nginx.

nginx.conf is included as the distribution's http block would include it, with only the install-specific values
(listen port, upstream ports, the public/ path) rewritten for the test.
"""

from __future__ import annotations

import asyncio
import grp
import io
import json
import os
import pwd
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from arq.connections import ArqRedis

from bench import supervised
from bench.fault import deploy_table, run_deploy
from bench.supervised import SupervisedHost, main_conf, site_conf
from tests.fixtures import make_settings
from tests.observability.processes import Child, log_lines
from tests.servers import free_port
from wagate.config import SettingsSchema, generate_fernet_key
from wagate.queue.names import WORKER_QUEUE, bridge_queue
from wagate.web.app import redis_client

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CLIENT = "127.0.0.5"  # a caller that is not the proxy: loopback has all of 127/8


def nginx_binary() -> str:
    try:
        return supervised.nginx_binary()
    except Exception:
        pytest.skip("nginx is not installed (scripts/test installs nginx-light)")


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
def host(tmp_path: Path, sqlite_template: Path, redis_url: str) -> Iterator[SupervisedHost]:
    if not (ROOT / ".venv/bin/supervisord").exists():
        pytest.skip("supervisor is not installed in .venv (pip install -e .[test])")
    nginx_binary()
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    shutil.copyfile(sqlite_template, home / "data" / "wagate.db")
    found = SupervisedHost(home, {
        "WAGATE_ENV": "test", "REDIS_URL": redis_url, "WA_TRANSPORT": "simulator", "LOG_FORMAT": "json",
        "JWT_SECRET": f"{'j' * 8}{os.urandom(16).hex()}", "ENCRYPTION_KEY": generate_fernet_key(),
        "METRICS_ALLOW_IPS": "127.0.0.1/32", "RATE_LIMIT_LOGIN": "3/15minute", "TRUSTED_PROXIES": "127.0.0.1",
    })
    found.start()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture
async def arq(host: SupervisedHost) -> AsyncIterator[ArqRedis]:
    client = redis_client(host.settings["REDIS_URL"])
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


async def test_supervisord_runs_the_gateway_behind_nginx_and_stops_it_in_time(host: SupervisedHost,
                                                                               arq: ArqRedis) -> None:
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


async def test_a_forged_x_forwarded_for_does_not_dodge_limits_through_nginx_or_around_it(host: SupervisedHost) -> None:
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


async def test_the_shipped_logrotate_file_rotates_the_logs_and_no_line_is_lost(
        tmp_path: Path, sqlite_template: Path, redis_url: str) -> None:
    """logrotate.conf run for real (forced), its paths and user made this test's: a running web process writes on
    into the new files, and every request's line is in one of the two."""
    logrotate = shutil.which("logrotate", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if logrotate is None:
        pytest.skip("logrotate is not installed (scripts/test installs it)")
    shutil.copyfile(sqlite_template, tmp_path / "wagate.db")
    settings = make_settings(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'wagate.db'}",
                             REDIS_URL=redis_url)
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    conf = (ROOT / "logrotate.conf").read_text().replace("/srv/wagate/logs", str(settings.log_dir))
    conf = conf.replace("su wagate wagate", f"su {user} {group}").replace("0640 wagate wagate", f"0640 {user} {group}")
    (tmp_path / "logrotate.conf").write_text(conf)
    port = free_port()
    web = Child.wagate(settings, tmp_path / "web.out", "web", "--port", str(port), "--drain", "0").start()
    try:
        await until_answers(f"http://127.0.0.1:{port}/health", timeout=60)
        async with aiohttp.ClientSession() as http:
            for n in range(3):
                async with http.get(f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": f"before-{n:04d}"}):
                    pass
            rotated = await asyncio.to_thread(
                subprocess.run, [logrotate, "-f", "-s", str(tmp_path / "logrotate.state"),
                                 str(tmp_path / "logrotate.conf")], capture_output=True, text=True, timeout=60)
            assert rotated.returncode == 0, rotated.stderr
            for n in range(3):
                async with http.get(f"http://127.0.0.1:{port}/health", headers={"X-Request-ID": f"after-{n:04d}"}):
                    pass
    finally:
        web.stop()
    logs = settings.log_dir
    assert (logs / "combined.log.1").exists()  # error.log and security.log are empty: notifempty leaves them
    old = [line["request_id"] for line in log_lines_of(logs / "combined.log.1") if line.get("event") == "request"]
    new = [line["request_id"] for line in log_lines_of(logs / "combined.log") if line.get("event") == "request"]
    assert [r for r in old if r.startswith("before")] == [f"before-{n:04d}" for n in range(3)]
    assert [r for r in new if r.startswith(("before", "after"))] == [f"after-{n:04d}" for n in range(3)]
    assert oct((logs / "combined.log").stat().st_mode & 0o777) == "0o640"


def log_lines_of(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_ci_runs_the_lint_before_the_tests() -> None:
    """`.ci/run` lints first, so a failing lint fails CI before any test runs (CI's own lint step is what holds
    the tree clean; running it again here would only double its minute)."""
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [line.split()[0] for line in ci if line and not line.startswith(("#", "set ", "cd "))]
    assert steps[:2] == ["scripts/lint", "exec"] and "scripts/test" in ci[-1], ci


async def test_a_rolling_restart_of_every_program_refuses_no_send_through_nginx() -> None:
    """bench.fault's deploy row, shorter: sends through nginx while `wagate rolling-restart` restarts both web
    processes, the bridge and the worker of the shipped supervisord.conf; none refused, each sent once."""
    if not (ROOT / ".venv/bin/supervisord").exists():
        pytest.skip("supervisor is not installed in .venv (pip install -e .[test])")
    nginx_binary()
    row = await run_deploy("rolling-restart", rate=5, lead_s=3)
    print(deploy_table([row]))
    assert row.accepted > 0
    assert (row.refused, row.lost, row.sent_twice) == (0, 0, 0), row
