"""wuzapi's /session/* and its auth under /wa, requests as API.md shows them, answers held to its envelope."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from tests.bridge.conftest import BRIDGE_ENV, start_bridge, wait_status
from tests.web.tenancy import Db, reseller_settings, session, tenant
from tests.web.wuzapi.calls import PHONE, wz
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.db.models_identity import Tenant
from wagate.queue.names import qr_key
from wagate.services.sessions import lifecycle
from wagate.web.keys import REDIS


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, **BRIDGE_ENV)


async def test_token_header_then_bearer_then_query(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id, status=SessionStatus.WORKING)
    for headers, path in (({"Token": token}, "/wa/session/status"),
                          ({"Authorization": f"Bearer {token}"}, "/wa/session/status"),
                          ({}, f"/wa/session/status?token={token}")):
        answer = await wz(client, "GET", path, None, 200, headers=headers)
        assert answer["data"]["Connected"] is True and answer["data"]["LoggedIn"] is True
    # The header is read first; a wrong one beside the right token in the query is two credentials: refused.
    refused = await wz(client, "GET", f"/wa/session/status?token={token}", "wrong", 401)
    assert refused["error"].startswith("Conflicting credentials")
    refused = await wz(client, "GET", "/wa/session/status", "wrong", 401)
    assert refused["error"] == "Invalid session token"
    assert (await wz(client, "GET", "/wa/session/status", None, 401))["error"] == "Authentication required"
    # The gateway's own /wa routes take the token header too.
    response = await client.get("/wa/status", headers={"token": token})
    assert response.status == 200 and (await response.json())["session"]["session_id"] == "s1"
    assert (await client.get("/wa/admin/users", headers={"token": token})).status == 404


async def test_an_expired_subscription_is_refused_with_its_date(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id)
    expired = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    async with db() as s, s.begin():
        await s.execute(update(Tenant).where(Tenant.id == tenant_id).values(expires_at=expired))
    for method, path in (("GET", "/wa/session/status"), ("POST", "/wa/chat/send/text"), ("GET", "/wa/group/list")):
        answer = await wz(client, method, path, token, 403, data=json.dumps({"Phone": PHONE, "Body": "x"}))
        assert "2026-01-31" in answer["error"] and "2026-01-31" in answer["details"]["subscription"][0]
    response = await client.get("/wa/status", headers={"token": token})
    assert response.status == 403 and "2026-01-31" in (await response.json())["message"]


async def test_status_follows_the_session(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db)
    for sid, status, connected, logged_in in (("a", SessionStatus.STOPPED, False, False),
                                              ("b", SessionStatus.SCAN_QR_CODE, True, False),
                                              ("c", SessionStatus.WORKING, True, True)):
        token = await session(db, sid, tenant_id, status=status)
        data = (await wz(client, "GET", "/wa/session/status", token, 200))["data"]
        assert (data["Connected"], data["LoggedIn"], data["Status"]) == (connected, logged_in, status.value)


async def test_qr_is_a_png_data_uri_while_scanning(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db)
    scanning = await session(db, "s1", tenant_id, status=SessionStatus.SCAN_QR_CODE)
    assert (await wz(client, "GET", "/wa/session/qr", scanning, 200))["data"] == {"QRCode": ""}
    await client.app[REDIS].set(qr_key("s1"), json.dumps({"code": "2@abc,def", "expires_at": 9}))
    image = (await wz(client, "GET", "/wa/session/qr", scanning, 200))["data"]["QRCode"]
    assert image.startswith("data:image/png;base64,")
    assert base64.b64decode(image.partition(",")[2]).startswith(b"\x89PNG")
    linked = await session(db, "s2", tenant_id, status=SessionStatus.WORKING)
    assert (await wz(client, "GET", "/wa/session/qr", linked, 409))["error"] == "Already Loggedin"
    stopped = await session(db, "s3", tenant_id, status=SessionStatus.STOPPED)
    assert (await wz(client, "GET", "/wa/session/qr", stopped, 409))["error"].startswith("Not connected")


async def test_connect_subscribes_and_is_capped_by_max_sessions(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db, max_sessions=2)
    token = await session(db, "s1", tenant_id, status=SessionStatus.STOPPED)
    answer = await wz(client, "POST", "/wa/session/connect", token, 200,
                      data='{"Subscribe":["Message","ReadReceipt","Bogus"],"Immediate":true}')
    assert answer["data"] == {"details": "Connected!", "events": "Message,ReadReceipt", "jid": "", "webhook": ""}
    row = await lifecycle.get_session(db, "s1")
    assert row.webhook_events == ["message.received", "message.delivered", "message.read"]
    assert (row.settings or {}).get("webhook_format") == "wuzapi"
    # Already running (the row stands in for the bridge): wuzapi's "Already Connected".
    running = await session(db, "s2", tenant_id, status=SessionStatus.WORKING)
    assert (await wz(client, "POST", "/wa/session/connect", running, 409, data="{}"))["error"] == "Already Connected"
    # The cap was lowered to one, and s2 runs: s1 may not connect.
    async with db() as s, s.begin():
        await s.execute(update(Tenant).where(Tenant.id == tenant_id).values(max_sessions=1))
    refused = await wz(client, "POST", "/wa/session/connect", token, 403, data='{"Immediate":true}')
    assert "session limit reached" in refused["error"] and refused["details"]["max_sessions"] == ["1"]
    await wz(client, "POST", "/wa/session/connect", token, 400, data="not json")
    await wz(client, "POST", "/wa/session/connect", token, 400, data='{"Immediate":"yes"}')


async def test_disconnect_and_logout_need_a_logged_in_session(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db)
    stopped = await session(db, "s1", tenant_id, status=SessionStatus.STOPPED)
    answer = await wz(client, "POST", "/wa/session/disconnect", stopped, 409)
    assert answer["error"] == "Cannot disconnect because it is not logged in"
    await wz(client, "POST", "/wa/session/logout", stopped, 409)
    working = await session(db, "s2", tenant_id)
    assert (await wz(client, "POST", "/wa/session/disconnect", working, 200))["data"] == {"Details": "Disconnected"}
    assert (await wz(client, "POST", "/wa/session/logout", working, 200))["data"] == {"Details": "Logged out"}


async def test_the_proxy_is_set_encrypted_answered_redacted_and_cleared(client: TestClient, db: Db) -> None:
    token = await session(db, "s1", (await tenant(db))[0], status=SessionStatus.STOPPED)
    answer = await wz(client, "POST", "/wa/session/proxy", token, 200,
                      data='{"proxy_url":"socks5://alice:s3cret@10.0.0.5:1080","enable":true}')
    assert answer["data"] == {"Details": "Proxy configured successfully", "ProxyURL": "socks5://***@10.0.0.5:1080"}
    row = await lifecycle.get_session(db, "s1")
    assert row.proxy_url_encrypted and "s3cret" not in row.proxy_url_encrypted
    assert (row.settings or {})["proxy_url"] == "socks5://***@10.0.0.5:1080"
    refused = await wz(client, "POST", "/wa/session/proxy", token, 400, data='{"proxy_url":"ftp://x:1","enable":true}')
    assert "socks5://" in refused["details"]["proxy_url"][0]
    await wz(client, "POST", "/wa/session/proxy", token, 400, data='{"enable":true}')  # Missing proxy_url
    await wz(client, "POST", "/wa/session/proxy", token, 400, data='{"proxy_url":"http://h:1","enable":"yes"}')
    cleared = await wz(client, "POST", "/wa/session/proxy", token, 200, data='{"enable":false}')
    assert cleared["data"] == {"Details": "Proxy disabled successfully"}
    assert (await lifecycle.get_session(db, "s1")).proxy_url_encrypted is None


async def test_history_is_not_served(client: TestClient, db: Db) -> None:
    token = await session(db, "s1", (await tenant(db))[0])
    await wz(client, "GET", "/wa/session/history", token, 501)
    await wz(client, "GET", "/wa/session/history", None, 401)  # authenticated first, as every route


async def test_connect_waits_for_whatsapp_and_pairs_by_phone(client: TestClient, db: Db, settings: Settings) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id, status=SessionStatus.STOPPED)
    paired = await session(db, "s2", tenant_id, status=SessionStatus.STOPPED)
    handle = await start_bridge(settings)
    try:
        answer = await wz(client, "POST", "/wa/session/connect", token, 200,
                          data='{"Subscribe":["Message"],"Immediate":false}')
        assert answer["data"]["events"] == "Message"
        assert (await lifecycle.get_session(db, "s1")).status == SessionStatus.SCAN_QR_CODE  # waited for the QR
        assert (await wz(client, "GET", "/wa/session/qr", token, 200))["data"]["QRCode"].startswith("data:image/png")
        await wz(client, "POST", "/wa/session/pairphone", paired, 400, data="{}")
        code = (await wz(client, "POST", "/wa/session/pairphone", paired, 200,
                         data=f'{{"Phone":"{PHONE}"}}'))["data"]["LinkingCode"]
        assert len(code.replace("-", "")) == 8
        await handle.sim.scan("s1", phone="6281234567890")
        await wait_status(db, "s1", SessionStatus.WORKING)
        assert (await wz(client, "POST", "/wa/session/pairphone", token, 400,
                         data=f'{{"Phone":"{PHONE}"}}'))["error"] == "Already paired"
    finally:
        await handle.stop()
