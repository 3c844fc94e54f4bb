"""`/api/whatsapp/*` over real HTTP: status from the session row, restart and logout as bridge jobs."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.web.api_rows import Db, Rows, queued
from wagate.db.enums import Role, SessionStatus
from wagate.web.keys import REDIS


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


async def test_status_matches_the_sessions_endpoint(client: TestClient, rows: Rows) -> None:
    await rows.session("only", status=SessionStatus.WORKING, phone="6281100000001", push_name="Toko Budi",
                       platform="android")
    viewer = await rows.key(Role.USER)
    response = await client.get("/api/whatsapp/status", headers=viewer)
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert data == {**data, "session": "only", "status": "WORKING", "connected": True, "phone": "6281100000001",
                    "name": "Toko Budi", "jid": "6281100000001@s.whatsapp.net", "platform": "android"}
    session = (await (await client.get("/api/sessions/only", headers=viewer)).json())["data"]
    assert session["status"] == data["status"] and session["phone"] == data["phone"]
    assert (await client.get("/api/whatsapp/status")).status == 401


async def test_several_sessions_need_a_name(client: TestClient, rows: Rows) -> None:
    await rows.session("a", status=SessionStatus.SCAN_QR_CODE)
    await rows.session("b", status=SessionStatus.LOGGED_OUT)
    viewer = await rows.key(Role.USER)
    response = await client.get("/api/whatsapp/status", headers=viewer)
    assert response.status == 400 and "session" in (await response.json())["details"]
    response = await client.get("/api/whatsapp/status", params={"session": "b"}, headers=viewer)
    data = (await response.json())["data"]
    assert data["status"] == "LOGGED_OUT" and data["connected"] is False
    assert (await client.get("/api/whatsapp/status", params={"session": "zz"}, headers=viewer)).status == 404
    other = await rows.key(Role.USER, tenant_id=await rows.tenant())
    assert (await client.get("/api/whatsapp/status", params={"session": "a"}, headers=other)).status == 404


async def test_restart_and_logout(client: TestClient, rows: Rows) -> None:
    await rows.session("only")
    user, operator, admin = await rows.key(Role.USER), await rows.key(), await rows.key(Role.ADMIN)
    assert (await client.post("/api/whatsapp/restart", headers=user)).status == 403
    response = await client.post("/api/whatsapp/restart", headers=operator)
    assert response.status == 202, await response.text()
    assert (await response.json())["data"]["session"] == "only"
    assert (await client.post("/api/whatsapp/logout", headers=operator)).status == 403
    response = await client.post("/api/whatsapp/logout", headers=admin, json={"session": "only"})
    assert response.status == 202
    response = await client.post("/api/whatsapp/logout", headers=admin, json={"session": "gone"})
    assert response.status == 404
    response = await client.post("/api/whatsapp/logout", headers=admin, json={"session": 5})
    assert response.status == 400
    jobs = await queued(client.app[REDIS])
    assert sorted(job.split(":")[2] for job in jobs) == ["logout", "restart"]
