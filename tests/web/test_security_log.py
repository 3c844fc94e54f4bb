"""Every refused credential and every refused access writes one line to logs/security.log, and no secret in it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient

from tests.web.identities import add_key, add_user, bearer, login
from tests.web.tenancy import SCOPED_A, A, B, Db, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import Role


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, IP_BAN_AFTER="none", RATE_LIMIT_LOGIN="none")


def security_lines(settings: Settings) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (settings.log_dir / "security.log").read_text().splitlines()]


def line_of(settings: Settings, request_id: str) -> dict[str, Any]:
    """The one security line the request `request_id` wrote."""
    lines = [e for e in security_lines(settings) if e.get("request_id") == request_id]
    assert len(lines) == 1, (request_id, lines)
    return lines[0]


def _jwt(settings: Settings, user_id: int, **claims: Any) -> str:
    now = datetime.now(UTC)
    body: dict[str, Any] = {"sub": str(user_id), "role": "admin", "jti": "j-sec", "iat": now,
                            "exp": now + timedelta(minutes=5), **claims}
    return jwt.encode(body, settings.jwt_secret, algorithm="HS256")


async def test_each_refused_credential_writes_a_security_line_without_the_secret(
        client: TestClient, db: Db, settings: Settings) -> None:
    user_id = await add_user(db, "sec-admin", Role.ADMIN)
    good = _jwt(settings, user_id)
    header, payload, signature = good.split(".")
    forged = jwt.utils.base64url_encode(json.dumps(
        {**jwt.decode(good, options={"verify_signature": False}), "sub": "999"}).encode()).decode()
    unsigned = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    past = datetime.now(UTC) - timedelta(minutes=20)
    _, revoked = await add_key(db, Role.ADMIN, revoked_at=past)
    wrong_key = "wag_0badc0de_" + "q" * 32
    cases: list[tuple[str, str, dict[str, str], str, str | None]] = [
        # (request id, path, headers, reason in the log, the secret that must not be logged)
        ("sec-jwt-expired", "/api/auth/me", bearer(_jwt(settings, user_id, iat=past, exp=past + timedelta(minutes=15))),
         "Token expired", None),
        ("sec-jwt-tampered", "/api/auth/me", bearer(f"{header}.{forged}.{signature}"), "Invalid token", forged),
        ("sec-jwt-alg-none", "/api/auth/me", bearer(f"{unsigned}.{payload}."), "Invalid token", payload),
        ("sec-key-wrong", "/api/messages", {"x-api-key": wrong_key}, "Invalid API key", wrong_key),
        ("sec-key-revoked", "/api/messages", bearer(revoked), "API key revoked", revoked),
        ("sec-key-missing", "/api/messages", {}, "Authentication required", None),
        ("sec-internal-wrong", "/internal/me", {"x-internal-api-key": SCOPED_A + "x"}, "Invalid internal API key",
         SCOPED_A),
    ]
    for request_id, path, headers, reason, secret in cases:
        response = await client.get(path, headers={**headers, "X-Request-ID": request_id})
        assert response.status == 401, (request_id, await response.text())
        line = line_of(settings, request_id)
        assert line["event"] == "authentication failed" and line["level"] == "warning", line
        assert line["reason"] == reason and line["path"] == path and line["ip"] == "127.0.0.1", line
        if secret is not None:
            assert secret not in json.dumps(line)
    text = (settings.log_dir / "security.log").read_text()
    for secret in (good, revoked, wrong_key, SCOPED_A, forged, payload):
        assert secret not in text


async def test_refused_access_writes_a_security_line(client: TestClient, db: Db, settings: Settings) -> None:
    await tenant(db, "usr_b", source="svc-b")
    _, my_key = await tenant(db, "usr_mine")
    theirs, _ = await tenant(db, "usr_theirs")
    await session(db, "their-session", theirs)
    await add_user(db, "sec-operator", Role.OPERATOR)
    operator = bearer((await login(client, "sec-operator"))["access_token"])
    cases: list[tuple[str, str, str, dict[str, str], dict[str, Any] | None, int, str, str]] = [
        # (request id, method, path, headers, body, status, reason, principal kind): another tenant's or service's
        # things are answered 404, as if missing, and logged as what they are
        ("sec-scope-read", "GET", "/internal/users/usr_b/apikey", A, None, 404,
         "user 'usr_b' belongs to another service", "internal"),
        ("sec-scope-move", "PUT", "/internal/users/usr_b", B, {"source": "svc-a"}, 403,
         "a scoped key cannot move a user to another service", "internal"),
        ("sec-tenant-session", "DELETE", "/v1/sessions/their-session", {"x-api-key": my_key}, None, 404,
         "session 'their-session' belongs to another tenant", "api_key"),
        ("sec-role", "GET", "/api/keys", operator, None, 403, "Permission denied: user_management required", "user"),
    ]
    for request_id, method, path, headers, body, status, reason, kind in cases:
        response = await client.request(method, path, headers={**headers, "X-Request-ID": request_id}, json=body)
        assert response.status == status, (request_id, await response.text())
        line = line_of(settings, request_id)
        assert line["event"] == "access denied" and line["level"] == "warning", line
        assert line["reason"] == reason and line["path"] == path and line["principal_kind"] == kind, line
    assert line_of(settings, "sec-scope-read")["service"] == "svc-a"
    text = (settings.log_dir / "security.log").read_text()
    assert SCOPED_A not in text and my_key not in text
