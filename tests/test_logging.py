"""Logging: JSON lines in three files, request ids bound, and no password, key or token in any line."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.fixtures import make_settings
from wagate.config import Settings
from wagate.logging import REDACTED, configure_logging, redact_secrets, scrub_text, security_log
from wagate.web.app import create_app

PASSWORD = "S3cret-Passw0rd-7781"
API_KEY = "wag_1a2b3c4d_Zk9vQm2xT7pL4rN8sW1yB6cE"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.Qm9ndXNTaWduYXR1cmVYWFg"
QUERY_TOKEN = "qtok-5566778899aabbcc"


def read_logs(settings: Settings) -> dict[str, list[dict]]:
    return {
        path.name: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(settings.log_dir.glob("*.log"))
    }


def careless_app(settings: Settings) -> web.Application:
    """The real app plus a handler that logs everything it gets and then fails with a secret in the error."""
    app = create_app(settings)
    log = structlog.get_logger("wagate.test")

    async def careless(request: web.Request) -> web.Response:
        body = await request.json()
        log.info("login attempt", body=body, headers=dict(request.headers), query=dict(request.query))
        logging.getLogger("some.library").warning("raw request: %s %s", request.headers, body)
        raise RuntimeError(f"could not verify {request.headers['Authorization']} for {body}")

    app.router.add_post("/careless", careless)
    return app


async def test_a_request_full_of_secrets_leaves_none_in_any_log_file(
    aiohttp_client: object, tmp_path: Path, redis_url: str
) -> None:
    settings = make_settings(tmp_path, REDIS_URL=redis_url)
    configure_logging(settings, "web")
    client: TestClient = await aiohttp_client(careless_app(settings))  # type: ignore[operator]
    response = await client.post(
        f"/careless?token={QUERY_TOKEN}&page=2",
        json={"username": "admin", "password": PASSWORD},
        headers={"Authorization": f"Bearer {BEARER}", "x-api-key": API_KEY, "X-Request-ID": "req-secrets-01"},
    )
    assert response.status == 500

    files = read_logs(settings)
    assert set(files) == {"combined.log", "error.log", "security.log"}
    everything = "\n".join(p.read_text() for p in settings.log_dir.glob("*.log"))
    for secret in (PASSWORD, API_KEY, BEARER, QUERY_TOKEN):
        assert secret not in everything
    # The lines were written (and redacted), not skipped.
    combined = files["combined.log"]
    attempt = next(e for e in combined if e["event"] == "login attempt")
    assert attempt["body"] == {"username": "admin", "password": REDACTED}
    assert attempt["headers"]["Authorization"] == REDACTED and attempt["headers"]["x-api-key"] == REDACTED
    assert attempt["query"]["token"] == REDACTED and attempt["query"]["page"] == "2"
    assert attempt["request_id"] == "req-secrets-01"
    assert any(e["event"].startswith("raw request:") for e in combined)
    crash = next(e for e in files["error.log"] if e["event"] == "unhandled error")
    assert "Bearer [REDACTED]" in crash["exception"]
    request_line = next(e for e in combined if e["event"] == "request" and e["path"] == "/careless")
    assert request_line["status"] == 500 and request_line["request_id"] == "req-secrets-01"


def test_security_events_go_to_security_log_and_combined(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    configure_logging(settings, "web")
    security_log().warning("login failed", username="admin", ip="203.0.113.9", password=PASSWORD)
    structlog.get_logger("wagate.web").info("ordinary event")
    files = read_logs(settings)
    assert [e["event"] for e in files["security.log"]] == ["login failed"]
    assert files["security.log"][0]["password"] == REDACTED
    assert {"login failed", "ordinary event"} <= {e["event"] for e in files["combined.log"]}
    assert files["error.log"] == []


def test_configuring_twice_does_not_duplicate_lines(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    configure_logging(settings, "web")
    configure_logging(settings, "web")
    structlog.get_logger("x").info("once")
    assert [e["event"] for e in read_logs(settings)["combined.log"]] == ["once"]


def test_redaction_reaches_nested_values_and_free_text() -> None:
    event = redact_secrets(None, "info", {
        "event": f"calling with Bearer {BEARER}",
        "user": {"name": "a", "credentials": {"password": PASSWORD}},
        "items": [{"api_key": API_KEY}, f"url?key={API_KEY}"],
        "url": "mysql+aiomysql://wagate:dbpass123@db/wagate",
        "webhook_secret": "whsec",
    })
    assert BEARER not in event["event"]
    assert event["user"] == {"name": "a", "credentials": REDACTED}
    assert event["items"][0] == {"api_key": REDACTED}
    assert API_KEY not in event["items"][1]
    assert event["url"] == "mysql+aiomysql://wagate:[REDACTED]@db/wagate"
    assert event["webhook_secret"] == REDACTED
    assert scrub_text('{"password": "x1", "name": "n"}') == '{"password": "[REDACTED]", "name": "n"}'


def test_counts_ids_and_flags_under_secret_sounding_keys_stay_visible() -> None:
    event = redact_secrets(None, "info", {
        "event": "refresh token reuse", "tokens_revoked": 3, "api_key_id": 7, "token_expired": True,
        "refresh_token": None, "token": "t0k3n-value", "api_key": API_KEY, "password": 123456, "pin_secret": 4321,
        "nested": {"refresh_tokens_revoked": 2, "signature": "sha256=abc", "cookie": ["a=b"]},
    })
    assert (event["tokens_revoked"], event["api_key_id"], event["token_expired"], event["refresh_token"]) == (
        3, 7, True, None)
    assert event["token"] == event["api_key"] == REDACTED
    assert event["password"] == event["pin_secret"] == REDACTED  # a password or secret may be all digits
    assert event["nested"] == {"refresh_tokens_revoked": 2, "signature": REDACTED, "cookie": REDACTED}


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(("tty", "setting", "shown"), [
    (False, "auto", ["a warning"]),  # a supervisor's output file: combined.log has the rest
    (True, "auto", ["an info line", "a warning"]),
    (False, "INFO", ["an info line", "a warning"]),
    (True, "ERROR", []),
])
def test_the_terminal_shows_what_log_stderr_level_says_and_the_files_get_everything(
        tmp_path: Path, tty: bool, setting: str, shown: list[str]) -> None:
    settings = make_settings(tmp_path, LOG_STDERR_LEVEL=setting)
    terminal = _Terminal(tty)
    configure_logging(settings, "web", stream=terminal)
    log = structlog.get_logger("wagate.test")
    log.info("an info line")
    log.warning("a warning")
    assert [json.loads(line)["event"] for line in terminal.getvalue().splitlines()] == shown
    assert [e["event"] for e in read_logs(settings)["combined.log"]] == ["an info line", "a warning"]


def test_a_structlog_line_renders_as_the_formatters_full_chain_would(tmp_path: Path) -> None:
    """The direct render of a structlog line (no traceback) and the formatter's chain write the same JSON."""
    settings = make_settings(tmp_path)
    configure_logging(settings, "web")
    log = structlog.get_logger("wagate.test")
    log.info("request", path="/api/x", status=202, nested={"token": "t0k3n-value", "n": [1, 2.5, None]})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", api_key=API_KEY)
    combined = read_logs(settings)["combined.log"]
    direct, chained = combined[0], combined[1]
    formatter = next(h.formatter for h in logging.getLogger().handlers if h.get_name() == "wagate"
                     and isinstance(h, logging.FileHandler))
    assert formatter is not None
    record = logging.LogRecord("wagate.test", logging.INFO, "", 0, dict(direct), None, None)
    record._logger, record._name = logging.getLogger("wagate.test"), "info"
    parent: Any = type(formatter).__mro__[1]  # the formatter the fast path stands in for
    assert json.loads(parent.format(formatter, record)) == direct
    assert direct["nested"] == {"token": REDACTED, "n": [1, 2.5, None]}
    assert "ValueError: boom" in chained["exception"] and chained["api_key"] == REDACTED


def test_the_test_harness_leaves_the_root_logger_as_it_found_it() -> None:
    """neonize's import (done once by tests/conftest.py) calls logging.basicConfig(level=INFO): undone, or Alembic's
    INFO lines print after pytest's summary."""
    code = ("import logging; root = logging.getLogger(); before = (list(root.handlers), root.level); "
            "import tests.conftest; print(before == (list(root.handlers), root.level))")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.stdout.strip().splitlines()[-1:] == ["True"], done.stdout + done.stderr
