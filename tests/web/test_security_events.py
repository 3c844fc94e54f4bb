"""What security.log records beyond refused credentials: refresh tokens, IP bans, WebSocket breaches, failed
logins without the typed username; and webhook audit rows with the client's address, not the proxy's."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.fixtures import make_settings
from tests.web.api_rows import Db, Rows
from tests.web.identities import PASSWORD, add_user, login
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_identity import AuditLog
from wagate.web.routes import events_ws


@pytest.fixture
def limits() -> dict[str, str]:
    return {"IP_BAN_AFTER": "none"}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str, limits: dict[str, str]) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url,
                         **{"RATE_LIMIT_LOGIN": "none", **limits})


def events(settings: Settings, name: str, log: str = "security.log") -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (settings.log_dir / log).read_text().splitlines()]
    return [line for line in lines if line["event"] == name]


def log_text(settings: Settings) -> str:
    return "".join(p.read_text() for p in settings.log_dir.glob("*.log"))


async def test_invalid_revoked_and_reused_refresh_tokens_are_logged(client: TestClient, db: Db,
                                                                    settings: Settings) -> None:
    await add_user(db, "refresher", Role.OPERATOR)
    made_up = "made-up-refresh-token-0123456789"
    assert (await client.post("/api/auth/refresh", json={"refresh_token": made_up})).status == 401
    first = (await login(client, "refresher"))["refresh_token"]
    assert (await client.post("/api/auth/logout", json={"refresh_token": first})).status == 200
    assert (await client.post("/api/auth/refresh", json={"refresh_token": first})).status == 401
    second = (await login(client, "refresher"))["refresh_token"]
    assert (await client.post("/api/auth/refresh", json={"refresh_token": second})).status == 200
    assert (await client.post("/api/auth/refresh", json={"refresh_token": second})).status == 401  # reused
    refused = events(settings, "refresh token refused")
    assert [line["reason"] for line in refused] == [
        "Invalid refresh token", "Refresh token revoked", "Refresh token reuse detected; please log in again"]
    assert {line["ip"] for line in refused} == {"127.0.0.1"}
    [reuse] = events(settings, "refresh token reuse; family revoked")
    assert reuse["tokens_revoked"] == 2  # a count, shown as such: the redactor hides secrets, not numbers
    text = log_text(settings)
    for secret in (made_up, first, second):
        assert secret not in text


@pytest.mark.parametrize("limits", [{"IP_BAN_AFTER": "2/10minute", "IP_BAN_SECONDS": "60"}])
async def test_each_request_refused_by_an_ip_ban_is_logged(client: TestClient, settings: Settings) -> None:
    for _ in range(2):
        assert (await client.get("/api/auth/me", headers={"x-api-key": "wag_0badc0de_" + "q" * 32})).status == 401
    for n in range(3):
        response = await client.get("/api/messages", headers={"X-Request-ID": f"banned-request-{n}"})
        assert response.status == 429
    banned = events(settings, "request refused: address banned")
    assert [line["request_id"] for line in banned] == [f"banned-request-{n}" for n in range(3)]
    assert all(line["ip"] == "127.0.0.1" and 0 < line["retry_after"] <= 60 for line in banned)


async def test_a_failed_login_logs_a_digest_of_the_typed_username_never_the_name(
        client: TestClient, db: Db, settings: Settings) -> None:
    user_id = await add_user(db, "dana", Role.OPERATOR)
    typed = "Tr0ub4dor&3-typed-in-the-wrong-field"  # a password typed into the username field
    for _ in range(2):
        response = await client.post("/api/auth/login", json={"username": typed, "password": "dana"})
        assert response.status == 401
    response = await client.post("/api/auth/login", json={"username": "dana", "password": "not " + PASSWORD})
    assert response.status == 401
    failed = events(settings, "login failed")
    assert [line["reason"] for line in failed] == ["unknown user", "unknown user", "wrong password"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", line["username_digest"]) for line in failed)
    assert failed[0]["username_digest"] == failed[1]["username_digest"] != failed[2]["username_digest"]
    assert [line["user_id"] for line in failed] == [None, None, user_id]
    text = log_text(settings).lower()
    assert typed.lower() not in text and "tr0ub4dor" not in text


async def test_websocket_auth_timeouts_and_malformed_frames_are_logged(
        client: TestClient, db: Db, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_ws, "AUTH_TIMEOUT_S", 0.3)
    await add_user(db, "watcher", Role.OPERATOR)
    token = (await login(client, "watcher"))["access_token"]

    async def close_code(*frames: str | bytes, authenticated: bool = False) -> int | None:
        ws = await client.ws_connect("/api/events", protocols=(events_ws.PROTOCOL,))
        if authenticated:
            await ws.send_json({"type": "auth", "token": token})
        for frame in frames:
            await (ws.send_bytes(frame) if isinstance(frame, bytes) else ws.send_str(frame))
        while (await ws.receive(timeout=5)).type not in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            pass
        return ws.close_code

    assert await close_code() == events_ws.CLOSE_UNAUTHORIZED  # silent: no auth frame in time
    assert await close_code("{nope") == 1008  # not JSON, before authenticating
    assert await close_code('{"type": "ping"}') == events_ws.CLOSE_UNAUTHORIZED  # anything but auth first
    assert await close_code("[1, 2]", authenticated=True) == 1008  # a JSON array on an open socket
    assert await close_code(b"\x00\x01", authenticated=True) == 1003  # a binary frame
    await asyncio.sleep(0.1)
    refused = events(settings, "websocket refused")
    assert [(line["reason"], line["close_code"]) for line in refused] == [
        ("No authentication within 10 s", 4001), ("Frames are JSON objects", 1008),
        ('Authenticate first: {"type": "auth", "token": …}', 4001), ("Frames are JSON objects with a type", 1008),
        ("Text frames only", 1003)]
    assert all(line["ip"] == "127.0.0.1" and line["path"] == "/api/events" for line in refused)
    assert token not in log_text(settings)


async def test_webhook_audit_rows_record_the_client_behind_a_trusted_proxy(client: TestClient, db: Db) -> None:
    admin = await Rows(db).key(Role.ADMIN)
    forwarded = {**admin, "X-Forwarded-For": "198.51.100.23"}  # the test client connects from a trusted proxy
    response = await client.post("/api/webhooks", headers=forwarded,
                                 json={"url": "https://93.184.215.14/hook", "events": "*"})
    assert response.status == 201, await response.text()
    webhook_id = (await response.json())["data"]["id"]
    assert (await client.post(f"/api/webhooks/{webhook_id}/secret", headers=forwarded)).status == 200
    assert (await client.delete(f"/api/webhooks/{webhook_id}", headers=forwarded)).status == 200
    async with db() as s:
        rows = list(await s.execute(select(AuditLog.action, AuditLog.ip).where(AuditLog.target_type == "webhook")))
    assert len(rows) == 3 and {ip for _, ip in rows} == {"198.51.100.23"}, rows
