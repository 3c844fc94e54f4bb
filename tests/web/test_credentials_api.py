"""Session credentials (/sessions/*, seed 004) over real HTTP: the exact envelopes, fields and status mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import ValidationError

from tests.web.spec import assert_documented, documented_call
from tests.web.tenancy import Db, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.queue.names import qr_key
from wagate.schemas.credentials import numeric_id
from wagate.web.keys import REDIS

BASIC = {"id", "sessionId", "status", "createdAt", "updatedAt", "isActive", "isAuthenticated", "startTime",
         "connectionStatus"}
CREDENTIALS = BASIC | {"userInfo"}
USER_INFO = {"phoneNumber", "name", "jid", "platform", "registered"}
MAPPING = {
    SessionStatus.STOPPED: ("disconnected", "DISCONNECTED", False, False),
    SessionStatus.STARTING: ("connecting", "CONNECTING", True, False),
    SessionStatus.SCAN_QR_CODE: ("qr", "SCAN_QR_CODE", True, False),
    SessionStatus.WORKING: ("connected", "AUTHENTICATED", True, True),
    SessionStatus.FAILED: ("failed", "FAILED", False, False),
    SessionStatus.LOGGED_OUT: ("logged_out", "LOGGED_OUT", False, False),
}
STARTED = datetime(2025, 7, 25, 8, 28, 54, 215000, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url)


@pytest.fixture
async def auth(db: Db) -> dict[str, Any]:
    mine, key = await tenant(db, "usr_1")
    other, _ = await tenant(db, "usr_2")
    for status in SessionStatus:
        await session(db, f"s-{status.lower()}", mine, status=status, started_at=STARTED,
                      **({"jid": "6283876013551:12@s.whatsapp.net", "phone": "6283876013551", "push_name": "Popeye",
                          "platform": "android"} if status == SessionStatus.WORKING else {}))
    await session(db, "theirs", other)
    return {"Authorization": f"Bearer {key}"}


async def get(client: TestClient, path: str, headers: dict[str, str], status: int = 200) -> Any:
    """The answer, held to the OpenAPI document too."""
    return await documented_call(client, "GET", path, headers, status)


@pytest.mark.parametrize(("path", "message", "ids", "fields"), [
    ("/sessions", "Active sessions retrieved successfully", {"s-starting", "s-scan_qr_code", "s-working"}, BASIC),
    ("/sessions/connected", "Connected sessions retrieved successfully", {"s-working"}, BASIC),
    ("/sessions/connected/credentials", "Connected sessions with credentials retrieved successfully",
     {"s-working"}, CREDENTIALS),
    ("/sessions/all", "All sessions retrieved successfully", {f"s-{s.lower()}" for s in SessionStatus}, BASIC),
    ("/sessions/all/credentials", "All sessions with credentials retrieved successfully",
     {f"s-{s.lower()}" for s in SessionStatus}, CREDENTIALS),
])
async def test_lists(client: TestClient, auth: dict[str, str], path: str, message: str, ids: set[str],
                     fields: set[str]) -> None:
    body = await get(client, path, auth)
    assert set(body) == {"success", "message", "data", "count"}
    assert body["success"] is True and body["message"] == message and body["count"] == len(ids)
    assert {item["sessionId"] for item in body["data"]} == ids  # never another tenant's "theirs"
    assert all(set(item) == fields for item in body["data"])


async def test_the_seed_example_and_every_status(client: TestClient, auth: dict[str, str]) -> None:
    body = await get(client, "/sessions/s-working/credentials", auth)
    assert set(body) == {"success", "message", "data"}
    assert body["message"] == "Session credentials retrieved successfully"
    data = body["data"]
    assert list(data) == ["id", "sessionId", "status", "createdAt", "updatedAt", "userInfo", "isActive",
                          "isAuthenticated", "startTime", "connectionStatus"]
    assert data["userInfo"] == {"phoneNumber": "6283876013551", "name": "Popeye",
                                "jid": "6283876013551:12@s.whatsapp.net", "platform": "android", "registered": True}
    assert data["id"] == numeric_id("s-working") and isinstance(data["id"], int) and data["id"] < 2**53
    assert data["startTime"] == 1753432134215
    assert data["createdAt"].endswith("Z") and len(data["createdAt"]) == len("2025-07-25T07:09:57.575Z")
    for status, (seed_status, connection, active, authenticated) in MAPPING.items():
        for path in (f"/sessions/s-{status.lower()}", f"/sessions/s-{status.lower()}/credentials"):
            item = (await get(client, path, auth))["data"]
            assert (item["status"], item["connectionStatus"], item["isActive"], item["isAuthenticated"]) == (
                seed_status, connection, active, authenticated)
            assert (item["startTime"] is not None) == active
        state = (await get(client, f"/sessions/s-{status.lower()}/status", auth))["data"]
        assert state == {"sessionId": f"s-{status.lower()}", "status": seed_status, "connectionStatus": connection,
                         "isActive": active, "isAuthenticated": authenticated, "sessionStatus": status.value,
                         "reason": None}
    assert (await get(client, "/sessions/s-stopped/credentials", auth))["data"]["userInfo"] is None


async def test_qr(client: TestClient, auth: dict[str, str]) -> None:
    none = await get(client, "/sessions/s-scan_qr_code/qr", auth)
    assert none["data"]["qr"] is None and none["data"]["expiresAt"] is None
    await assert_documented(client, "GET", "/sessions/{session_id}/qr", 200, none)
    expires = "2026-11-22T10:00:20+00:00"  # as the bridge stores it
    await client.app[REDIS].set(qr_key("s-scan_qr_code"), json.dumps({"code": "2@abc", "expires_at": expires}))
    body = await get(client, "/sessions/s-scan_qr_code/qr", auth)
    assert body == {"success": True, "message": "QR code retrieved successfully",
                    "data": {"sessionId": "s-scan_qr_code", "qr": "2@abc", "expiresAt": expires, "status": "qr",
                             "connectionStatus": "SCAN_QR_CODE"}}
    await assert_documented(client, "GET", "/sessions/{session_id}/qr", 200, body)
    with pytest.raises(ValidationError):  # the check can fail: a number where the document says text
        await assert_documented(client, "GET", "/sessions/{session_id}/qr", 200,
                                {**body, "data": {**body["data"], "expiresAt": 123}})


async def test_errors(client: TestClient, auth: dict[str, str]) -> None:
    missing = await get(client, "/sessions/nope/credentials", auth, 404)
    assert missing["success"] is False and missing["message"] == "Session not found"
    await get(client, "/sessions/theirs", auth, 404)  # another tenant's session: as if missing
    await get(client, "/sessions/theirs/qr", auth, 404)
    wrong = await get(client, "/sessions/all/credentials", {"Authorization": "Bearer wag_wrong_key"}, 401)
    assert wrong["success"] is False and wrong["message"] == "Invalid API key"
    await get(client, "/sessions", {}, 401)
