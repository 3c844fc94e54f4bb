"""The real gateway for browser tests: web, bridge and worker as subprocesses (simulator transport, real Valkey,
SQLite), three logins (admin, operator, user), and headless Chromium (Debian's, never downloaded) per test.

The gateway is package-scoped: started once for every test under tests/browser/, which run one after another
and share its sessions and messages. Every page a test opens is watched: console errors, uncaught exceptions,
failed requests and HTTP errors fail the test unless the test expected them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Response, ViewportSize, async_playwright

from tests.servers import ValkeyProcess
from wagate.config import generate_fernet_key, load_settings
from wagate.services.identity import bootstrap

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORDS = {"admin": "admin-pass-1234", "operator": "operator-pass-1234", "user": "user-pass-1234"}
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 375, "height": 740}
# Fast but real: sends paced, receipts and QR rotation at eight times WhatsApp's speed (the first code lives 7.5 s,
# the next ones 2.5 s: a test sees a code rotate), limits out of the way of a test that logs in a dozen times (their
# own tests are in tests/web/test_rate_limits.py). ACCESS_TOKEN_TTL is the shortest the gateway allows: the page
# refreshes it 48 s after the login, which the refresh test reaches with Playwright's clock.
GATEWAY_ENV = {
    "WA_TRANSPORT": "simulator", "SIMULATOR_SPEED": "8", "SEND_GAP_MS": "150", "BULK_GAP_MS": "100",
    "SEND_JITTER_MS": "0", "TYPING_MS_PER_CHAR": "0", "ACCESS_TOKEN_TTL": "60",
    "RATE_LIMIT_LOGIN": "100/15minute", "RATE_LIMIT_SEND": "500/15minute", "RATE_LIMIT_BROADCAST": "100/60minute",
    "RATE_LIMIT_DASHBOARD": "1000/15minute", "RATE_LIMIT_QR": "200/15minute", "IP_BAN_AFTER": "100/10minute",
    "LOGIN_MAX_FAILURES": "3", "WAGATE_ENV": "test", "LOG_FORMAT": "json",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Gateway:
    url: str
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def post(self, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
        """A plain HTTP call from the test (the phone side of the simulator, or checks the page cannot make)."""
        return self.call("POST", path, body, token)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             token: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own local gateway
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def token(self, role: str) -> str:
        status, body = self.post("/api/auth/login", {"username": role, "password": PASSWORDS[role]})
        assert status == 200, body
        return str(body["data"]["access_token"])

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(gateway: Gateway, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        for process in gateway.processes:
            if process.poll() is not None:
                raise AssertionError(f"{process.args!r} exited with {process.returncode}; see {gateway.logs}")
        try:
            status, body = gateway.call("GET", "/api/health")
            last = body
            if status == 200 and body["services"]["queue"] == "running":
                return
        except OSError as error:
            last = error
        time.sleep(0.3)
    raise AssertionError(f"gateway not ready: {last}; see {gateway.logs}")


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path,
            valkey: ValkeyProcess) -> Iterator[Gateway]:
    valkey.ensure_running()
    valkey.flushall()
    home = tmp_path_factory.mktemp("gateway")
    database = home / "wagate.db"
    shutil.copyfile(sqlite_template, database)
    port = _free_port()
    env = {
        **GATEWAY_ENV, "DATABASE_URL": f"sqlite+aiosqlite:///{database}", "REDIS_URL": valkey.url, "PORT": str(port),
        "HOST": "127.0.0.1", "DATA_DIR": str(home / "data"), "LOG_DIR": str(home / "logs"),
        "AUTH_SESSIONS_DIR": str(home / "auth_sessions"), "UPLOAD_DIR": str(home / "uploads"),
        "JWT_SECRET": os.urandom(32).hex(), "ENCRYPTION_KEY": generate_fernet_key(),
    }
    settings = load_settings(env, env_file=None)
    for role, password in PASSWORDS.items():
        asyncio.run(bootstrap.create_user(settings, role, password, role=role))
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    gateway = Gateway(f"http://127.0.0.1:{port}", env, logs)
    child_env = {**os.environ, **env}
    for name, argv in (("web", ["web"]), ("bridge", ["bridge", "--shard", "0"]), ("worker", ["worker"])):
        out = (logs / f"{name}.out").open("wb")
        gateway.processes.append(subprocess.Popen([sys.executable, "-m", "wagate", *argv], env=child_env, cwd=ROOT,
                                                  stdout=out, stderr=subprocess.STDOUT))
        out.close()
    try:
        _wait_ready(gateway)
        yield gateway
    finally:
        gateway.stop()
        valkey.flushall()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watch:
    """What went wrong on a page: console errors, uncaught errors, failed requests, HTTP errors."""

    problems: list[str] = field(default_factory=list)
    allowed: list[tuple[str, int]] = field(default_factory=list)  # (path, status) a test expects

    def allow(self, path: str, status: int) -> None:
        self.allowed.append((path, status))

    def _expected(self, url: str, status: int) -> bool:
        return any(url.split("?", 1)[0].endswith(path) and status == code for path, code in self.allowed)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "") if message.location else ""
        text = message.text
        # Chromium reports every HTTP error response as a console error; an expected one is not a problem.
        if "Failed to load resource" in text and any(str(code) in text and url.split("?", 1)[0].endswith(path)
                                                     for path, code in self.allowed):
            return
        self.problems.append(f"console error: {text} ({url})")

    def on_response(self, response: Response) -> None:
        if response.status >= 400 and not self._expected(response.url, response.status):
            self.problems.append(f"HTTP {response.status} {response.request.method} {response.url}")

    def on_failed(self, request: Request) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" in failure and (request.resource_type in ("image", "fetch")
                                         or request.url.endswith("/favicon.svg")):
            return  # a QR image replaced while loading, a fetch or the icon dropped by navigation: not a failure
        self.problems.append(f"request failed: {request.method} {request.url} {failure}")

    def check(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


async def open_page(browser: Browser, viewport: ViewportSize = DESKTOP) -> tuple[Page, Watch]:
    context = await browser.new_context(viewport=viewport)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    watch = Watch()
    page.on("console", watch.on_console)
    page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
    page.on("response", watch.on_response)
    page.on("requestfailed", watch.on_failed)
    return page, watch


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def login(page: Page, gateway: Gateway, role: str) -> None:
    await page.goto(f"{gateway.url}/login.html")
    await page.fill("#username", role)
    await page.fill("#password", PASSWORDS[role])
    await page.click("#login-button")
    await page.wait_for_url("**/dashboard.html**")
    await page.wait_for_selector("#live-state.live-live")


async def unlabelled_inputs(page: Page) -> list[str]:
    """Inputs, selects and textareas on the page with no label (by <label for>, wrapping, aria-label(ledby))."""
    found: list[str] = await page.evaluate("""() => Array.from(document.querySelectorAll('input, select, textarea'))
        .filter((n) => n.type !== 'hidden')
        .filter((n) => !(n.labels && n.labels.length))
        .filter((n) => !n.getAttribute('aria-label') && !n.getAttribute('aria-labelledby'))
        .map((n) => n.outerHTML.slice(0, 120))""")
    return found


async def focus_by_tab(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until `selector` has the focus: proof it is reachable by keyboard alone."""
    for _ in range(limit):
        if await page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} not reached with Tab")
