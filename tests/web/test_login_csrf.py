"""Login CSRF: the cookie routes take JSON only and refuse what a browser says comes from another site."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.fixtures import make_settings
from tests.web.api_rows import Db
from tests.web.identities import PASSWORD, add_user
from wagate.config import Settings
from wagate.db.enums import Role

CREDENTIALS = json.dumps({"username": "victim-of-csrf", "password": PASSWORD})
COOKIE = "wagate_refresh"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, IP_BAN_AFTER="none",
                         RATE_LIMIT_LOGIN="none", CORS_ORIGINS="https://app.partner.example")


def security_events(settings: Settings) -> list[dict[str, Any]]:
    path = settings.log_dir / "security.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_a_form_or_text_body_cannot_log_a_browser_in(client: TestClient, db: Db) -> None:
    await add_user(db, "victim-of-csrf", Role.OPERATOR)
    # What an auto-submitting form on another site can send without a preflight.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = await client.post("/api/auth/login", data=CREDENTIALS, headers={"Content-Type": content_type})
        body = await response.json()
        assert response.status == 415, (content_type, body)
        assert body["success"] is False and "application/json" in body["message"], body
        assert COOKIE not in response.cookies
    for path in ("/api/auth/refresh", "/api/auth/logout"):
        response = await client.post(path, data="{}", headers={"Content-Type": "text/plain"})
        assert response.status == 415, (path, await response.text())
    response = await client.post("/api/auth/login", data=CREDENTIALS, headers={"Content-Type": "application/json"})
    assert response.status == 200 and response.cookies[COOKIE].value


async def test_cross_site_requests_are_refused_and_logged(client: TestClient, db: Db, settings: Settings) -> None:
    await add_user(db, "victim-of-csrf", Role.OPERATOR)
    own = f"http://{client.host}:{client.port}"
    login = await client.post("/api/auth/login", json=json.loads(CREDENTIALS),
                              headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert login.status == 200, await login.text()  # the dashboard's own page
    cross_site: list[dict[str, str]] = [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},  # a sandboxed frame or a file
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://sub.evil.example"},
    ]
    for number, headers in enumerate(cross_site):
        for path in ("/api/auth/login", "/api/auth/refresh", "/api/auth/logout"):
            request_id = f"csrf-{number}-{path.rsplit('/', 1)[1]}"
            response = await client.post(path, json=json.loads(CREDENTIALS),
                                         headers={**headers, "X-Request-ID": request_id})
            body = await response.json()
            assert response.status == 403 and body["success"] is False, (path, headers, body)
            assert COOKIE not in response.cookies
            [line] = [e for e in security_events(settings) if e.get("request_id") == request_id]
            assert line["event"] == "access denied" and line["path"] == path, line
    # The refresh cookie the real login set is still good: nothing above spent or revoked it.
    refreshed = await client.post("/api/auth/refresh", json={}, headers={"Origin": own})
    assert refreshed.status == 200, await refreshed.text()
    listed = await client.post("/api/auth/login", json=json.loads(CREDENTIALS),
                               headers={"Origin": "https://app.partner.example", "Sec-Fetch-Site": "cross-site"})
    assert listed.status == 200, await listed.text()  # an origin the operator listed in CORS_ORIGINS
