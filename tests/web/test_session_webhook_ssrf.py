"""A session's webhook URL passes the save-time SSRF check of `POST /api/webhooks` on every path that sets it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.web.api_rows import Db, Rows
from tests.web.tenancy import reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_whatsapp import WaSession

METADATA = "http://169.254.169.254/latest/meta-data/"
PRIVATE = "http://10.1.2.3/hook"
LOOPBACK = "http://127.0.0.1:9/hook"


@pytest.fixture
def allow_private() -> str:
    return "false"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str, allow_private: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, WEBHOOK_ALLOW_PRIVATE=allow_private)


@pytest.fixture
async def callers(db: Db) -> tuple[dict[str, str], dict[str, str]]:
    """An install-wide admin key and a tenant's customer key, whose tenant has the session `shop`."""
    admin = await Rows(db).key(Role.ADMIN)
    tenant_id, customer_key = await tenant(db, "usr_1", max_sessions=10)
    await session(db, "shop", tenant_id)
    return admin, {"x-api-key": customer_key}


async def webhook_urls(db: Db) -> list[str | None]:
    async with db() as s:
        return list(await s.scalars(select(WaSession.webhook_url)))


async def writes(client: TestClient, callers: tuple[dict[str, str], dict[str, str]], url: str
                 ) -> list[tuple[str, int, dict[str, Any]]]:
    """Every way to set a session's webhook URL, tried with `url`: (route, status, body)."""
    admin, customer = callers
    calls: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("PUT", "/v1/sessions/shop/settings", customer, {"webhook_url": url}),
        ("PUT", "/v1/sessions/shop", customer, {"webhook_url": url}),
        ("POST", "/v1/sessions", customer, {"session_name": "a", "webhook_url": url, "auto_connect": False}),
        ("PUT", "/api/sessions/shop/settings", admin, {"webhook_url": url}),
        ("POST", "/api/sessions", admin, {"name": "b", "webhook_url": url, "auto_connect": False}),
        ("POST", "/api/webhooks", admin, {"url": url, "events": "*"}),  # the reference
    ]
    out = []
    for method, path, headers, body in calls:
        response = await client.request(method, path, headers=headers, json=body)
        out.append((f"{method} {path}", response.status, await response.json()))
    return out


@pytest.mark.parametrize(("url", "reason"), [(METADATA, "cloud metadata address"), (PRIVATE, "private address"),
                                             (LOOPBACK, "loopback address"), ("http://nowhere.invalid/", None)])
async def test_unsafe_session_webhook_urls_are_refused_at_save(
        client: TestClient, db: Db, settings: Settings, callers: Any, url: str, reason: str | None) -> None:
    answers = await writes(client, callers, url)
    reference = answers[-1][2]
    assert reference["message"] == "Webhook URL refused"
    for route, status, body in answers[:-1]:
        assert status == 400, (route, body)
        assert body["message"] == reference["message"], (route, body)
        assert body["details"] == {"webhook_url": reference["details"]["url"]}, (route, body)
        if reason:
            [message] = body["details"]["webhook_url"]
            assert message.startswith(reason), message
    assert await webhook_urls(db) == [None]  # nothing saved, nothing created
    lines = [json.loads(line) for line in (settings.log_dir / "security.log").read_text().splitlines()]
    refusals = [line for line in lines if line["event"] == "webhook URL refused"]
    assert [line["field"] for line in refusals] == ["webhook_url"] * 5 + ["url"], refusals
    assert {line["ip"] for line in refusals} == {"127.0.0.1"}


@pytest.mark.parametrize("allow_private", ["true"])
async def test_webhook_allow_private_lets_a_local_receiver_in_but_never_metadata(
        client: TestClient, db: Db, callers: Any) -> None:
    for route, status, body in await writes(client, callers, LOOPBACK):
        assert status in (200, 201), (route, body)
    assert await webhook_urls(db) == [LOOPBACK] * 3
    for route, status, body in await writes(client, callers, METADATA):
        assert status == 400 and body["details"] in ({"webhook_url": ["cloud metadata address"]},
                                                     {"url": ["cloud metadata address"]}), (route, body)
