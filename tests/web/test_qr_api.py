"""The QR endpoint over real HTTP: the live code from Redis rendered by segno, or why there is none."""

from __future__ import annotations

import base64
import json

import pytest
from aiohttp.test_utils import TestClient

from tests.web.api_rows import Db, Rows
from wagate.db.enums import Role, SessionStatus
from wagate.queue.names import qr_key
from wagate.web.keys import REDIS

CODE = "2@abcDEF123ghiJKL456,mnoPQR789stuVWX012,yzABCD345EFG678=,HIJklm901NOP234="
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


async def test_the_live_code_as_json_and_png(client: TestClient, rows: Rows) -> None:
    await rows.session("s1", status=SessionStatus.SCAN_QR_CODE)
    await client.app[REDIS].set(qr_key("s1"), json.dumps({"code": CODE, "expires_at": "2030-01-01T00:00:20Z"}))
    operator = await rows.key()
    for path, params in (("/api/qr", {"session": "s1"}), ("/api/qr/s1", {}), ("/api/qr", {})):
        response = await client.get(path, params=params, headers=operator)
        assert response.status == 200, await response.text()
        assert response.headers["Cache-Control"] == "no-store"
        data = (await response.json())["data"]
        assert data["qr"] == CODE and data["expires_at"] == "2030-01-01T00:00:20Z" and data["session"] == "s1"
        assert data["image"].startswith("data:image/png;base64,")
        assert base64.b64decode(data["image"].split(",", 1)[1]).startswith(PNG)
    response = await client.get("/api/qr/s1", params={"format": "png"}, headers=operator)
    assert response.status == 200 and response.content_type == "image/png"
    assert (await response.read()).startswith(PNG)


@pytest.mark.parametrize(("status", "code", "word"), [
    (SessionStatus.WORKING, 409, "WORKING"), (SessionStatus.STOPPED, 409, "STOPPED"),
    (SessionStatus.LOGGED_OUT, 409, "LOGGED_OUT"), (SessionStatus.FAILED, 409, "FAILED"),
    (SessionStatus.STARTING, 404, "STARTING"), (SessionStatus.SCAN_QR_CODE, 404, "SCAN_QR_CODE"),
])
async def test_no_code_says_why(client: TestClient, rows: Rows, status: SessionStatus, code: int, word: str) -> None:
    await rows.session("s1", status=status)
    if status == SessionStatus.WORKING:  # a stale code left in Redis never contradicts the row
        await client.app[REDIS].set(qr_key("s1"), json.dumps({"code": CODE}))
    response = await client.get("/api/qr/s1", headers=await rows.key())
    assert response.status == code
    answer = await response.json()
    assert word in answer["message"] and answer["details"]["status"] == [status.value]


async def test_refusals(client: TestClient, rows: Rows) -> None:
    await rows.session("s1", status=SessionStatus.SCAN_QR_CODE)
    await rows.session("s2", status=SessionStatus.SCAN_QR_CODE)
    await client.app[REDIS].set(qr_key("s1"), json.dumps({"code": CODE}))
    assert (await client.get("/api/qr/s1")).status == 401
    assert (await client.get("/api/qr/s1", headers=await rows.key(Role.USER))).status == 403
    operator = await rows.key()
    assert (await client.get("/api/qr", headers=operator)).status == 400  # two sessions: name one
    assert (await client.get("/api/qr/nobody", headers=operator)).status == 404
    assert (await client.get("/api/qr/s1", params={"format": "gif"}, headers=operator)).status == 400
    other = await rows.key(tenant_id=await rows.tenant())
    assert (await client.get("/api/qr/s1", headers=other)).status == 404
