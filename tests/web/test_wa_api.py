"""The session-token API (/wa/*) over real HTTP: token auth, /wa/admin blocked, and a real bridge's contact sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.bridge.conftest import BRIDGE_ENV, start_bridge, until, wait_status
from tests.web.tenancy import Db, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.queue.names import qr_key
from wagate.web.keys import REDIS


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, **BRIDGE_ENV)


async def call(client: TestClient, method: str, path: str, status: int, **kwargs: Any) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status == status, await response.text()
    return await response.json()


async def test_token_auth_and_the_blocked_admin_paths(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id, status=SessionStatus.SCAN_QR_CODE)
    bearer = {"Authorization": f"Bearer {token}"}
    by_query = await call(client, "GET", f"/wa/status?token={token}", 200)
    by_header = await call(client, "GET", "/wa/status", 200, headers=bearer)
    assert by_query == by_header and by_query["session"]["session_id"] == "s1"
    assert by_query["session"]["connection_status"] == "SCAN_QR_CODE" and by_query["session"]["is_active"] is True
    await call(client, "GET", "/wa/status", 401)
    await call(client, "GET", "/wa/status?token=wrong", 401)
    for method, path in (("GET", "/wa/admin"), ("POST", "/wa/admin/users"), ("DELETE", "/wa/admin/x/y"),
                         ("GET", f"/wa/admin?token={token}"), ("GET", "/wa/administrator")):
        answer = await call(client, method, path, 404, headers=bearer)
        assert answer["success"] is False
    assert (await call(client, "GET", "/wa/qr", 200, headers=bearer))["qr"] is None
    await client.app[REDIS].set(qr_key("s1"), json.dumps({"code": "2@qr", "expires_at": 9}))
    assert await call(client, "GET", "/wa/qr", 200, headers=bearer) == {
        "session_id": "s1", "status": "SCAN_QR_CODE", "qr": "2@qr", "expires_at": 9}


async def test_send_and_list_for_the_tokens_session_only(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id, jid="6281100000001@s.whatsapp.net")
    await session(db, "s2", tenant_id)
    bearer = {"Authorization": f"Bearer {token}"}
    sent = await call(client, "POST", "/wa/send", 202, headers=bearer, json={"phone": "6281234567890", "text": "Hi"})
    assert sent["message"]["session"] == "s1" and sent["message"]["text"] == "Hi"
    await call(client, "POST", "/wa/send", 400, headers=bearer, json={"to": "6281234567890"})
    await call(client, "POST", "/wa/send", 400, headers=bearer, json="text")
    listed = await call(client, "GET", "/wa/messages", 200, headers=bearer)
    assert listed["total"] == 1 and listed["messages"][0]["id"] == sent["message"]["id"]
    await call(client, "GET", "/wa/messages?limit=500", 400, headers=bearer)


async def test_a_linked_session_syncs_its_contacts_through_the_bridge(client: TestClient, db: Db,
                                                                      settings: Settings) -> None:
    _, key = await tenant(db)
    handle = await start_bridge(settings)
    try:
        created = await call(client, "POST", "/v1/sessions", 201, headers={"x-api-key": key},
                             json={"session_name": "live", "session_id": "live-1"})
        await wait_status(db, "live-1", SessionStatus.SCAN_QR_CODE)
        await handle.sim.scan("live-1", phone="6281234567890")
        await wait_status(db, "live-1", SessionStatus.WORKING)
        await until(lambda: handle.sim.is_connected("live-1"), what="live-1 connected")
        found = await call(client, "GET", "/wa/contacts", 200, headers={"Authorization": f"Bearer {created['token']}"})
        assert found["sync"]["requested"] is True and found["sync"]["completed"] is True, found["sync"]
        assert found["count"] == 5 and all(c["jid"].endswith("@s.whatsapp.net") for c in found["contacts"])
        via_v1 = await call(client, "GET", "/v1/sessions/live-1/contacts?sync=false", 200,
                            headers={"x-api-key": key})
        assert via_v1["count"] == 5 and via_v1["sync"] is None
    finally:
        await handle.stop()
