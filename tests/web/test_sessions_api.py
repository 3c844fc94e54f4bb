"""The dashboard's session API over real HTTP: permissions per route, tenants, bridge jobs, settings, tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.web.api_rows import Db, Rows, queued
from wagate.db.enums import Role, SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.services.events import EVENT_STREAM
from wagate.services.identity.credentials import hash_token
from wagate.web.keys import REDIS


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


async def test_create_shows_the_token_once_and_queues_the_start(client: TestClient, rows: Rows) -> None:
    admin = await rows.key(Role.ADMIN)
    response = await client.post("/api/sessions", headers=admin, json={
        "id": "sales-1", "name": "Sales", "webhook_url": "https://93.184.215.14/in?token=s3cret",
        "webhook_events": ["message"]})
    assert response.status == 201, await response.text()
    data = (await response.json())["data"]
    assert data["session"]["id"] == "sales-1" and data["session"]["status"] == "STOPPED"
    assert data["session"]["settings"]["webhook_url"] == "https://93.184.215.14/in?token=s3cret"
    assert data["session"]["settings"]["webhook_events"] == ["message.received"]
    row = await rows.get(WaSession, "sales-1")
    assert row.token_hash == hash_token(data["token"])
    assert await queued(client.app[REDIS]) == [data["start_job_id"]]

    response = await client.get("/api/sessions/sales-1", headers=await rows.key(Role.USER))
    shown = (await response.json())["data"]
    assert "token" not in shown and shown["settings"]["webhook_url"] == "https://93.184.215.14/…"
    assert (await client.post("/api/sessions", headers=admin, json={"id": "sales-1", "name": "x"})).status == 409
    audits = [a.action for a in await rows.audits()]
    assert audits == ["session.create"]


@pytest.mark.parametrize("key", ["session_id", "session", "id"])
async def test_the_callers_own_id_is_kept_and_names_the_session(client: TestClient, rows: Rows, key: str) -> None:
    admin = await rows.key(Role.ADMIN)
    response = await client.post("/api/sessions", headers=admin, json={key: "neo1", "auto_connect": False})
    assert response.status == 201, await response.text()
    assert (await response.json())["data"]["session"]["id"] == "neo1"
    response = await client.get("/api/sessions/neo1", headers=admin)
    assert response.status == 200 and (await response.json())["data"]["name"] == "neo1"


BAD_CREATES: list[tuple[Any, str]] = [
    ({"session_id": "a", "id": "b", "name": "x"}, "session_id"),
    ({"name": ""}, "name"),
    ({"name": "x", "id": "no spaces"}, "session_id"),  # `id` is another name of `session_id`
    ({"name": "x", "webhook_url": "ftp://x"}, "webhook_url"),
    ({"name": "x", "webhook_events": ["nope"]}, "webhook_events"),
    ({"name": "x", "auto_connect": "yes please"}, "auto_connect"),
    (["x"], "_schema"),
]


@pytest.mark.parametrize(("body", "field"), BAD_CREATES)
async def test_bad_creates_write_nothing(client: TestClient, rows: Rows, body: Any, field: str) -> None:
    response = await client.post("/api/sessions", headers=await rows.key(Role.ADMIN), json=body)
    assert response.status == 400, await response.text()
    assert field in (await response.json())["details"]
    assert await rows.count(WaSession) == 0
    assert await queued(client.app[REDIS]) == []


async def test_permissions_per_route(client: TestClient, rows: Rows) -> None:
    await rows.session("s1", status=SessionStatus.WORKING)
    user, operator, admin = await rows.key(Role.USER), await rows.key(Role.OPERATOR), await rows.key(Role.ADMIN)
    calls = [
        ("GET", "/api/sessions", None, user),
        ("GET", "/api/sessions/s1", None, user),
        ("GET", "/api/sessions/s1/settings", None, user),
        ("POST", "/api/sessions/s1/start", None, operator),
        ("POST", "/api/sessions/s1/stop", None, operator),
        ("POST", "/api/sessions/s1/restart", None, operator),
        ("POST", "/api/sessions/s1/pair", {"phone": "+62 812 3456 7890"}, operator),
        ("POST", "/api/sessions/s1/logout", None, admin),
        ("PUT", "/api/sessions/s1/settings", {"typing_enabled": True}, admin),
        ("POST", "/api/sessions/s1/token", None, admin),
    ]
    weaker = {id(operator): user, id(admin): operator}
    for method, path, body, least in calls:
        if id(least) in weaker:
            response = await client.request(method, path, json=body, headers=weaker[id(least)])
            assert response.status == 403, (method, path)
        assert (await client.request(method, path, json=body)).status == 401
        response = await client.request(method, path, json=body, headers=least)
        assert response.status in (200, 202), (method, path, await response.text())
    jobs = await queued(client.app[REDIS])
    assert sorted(job.split(":")[2] for job in jobs) == ["logout", "pair_phone", "restart", "start", "stop"]
    assert (await rows.get(WaSession, "s1")).typing_enabled is True


async def test_commands_pairing_and_unknown_sessions(client: TestClient, rows: Rows) -> None:
    await rows.session("s1")
    operator = await rows.key()
    response = await client.post("/api/sessions/s1/pair", json={"phone": "0812"}, headers=operator)
    assert response.status == 400
    response = await client.post("/api/sessions/s1/pair", json={}, headers=operator)
    assert response.status == 400 and "phone" in (await response.json())["details"]
    for path in ("/api/sessions/nobody/start", "/api/sessions/nobody/pair"):
        response = await client.post(path, json={"phone": "6281234567890"}, headers=operator)
        assert response.status == 404
    assert await queued(client.app[REDIS]) == []
    response = await client.post("/api/sessions/s1/restart", headers=operator)
    assert response.status == 202
    data = (await response.json())["data"]
    assert data["session"] == "s1" and await queued(client.app[REDIS]) == [data["job_id"]]


async def test_tenants_see_only_their_sessions(client: TestClient, rows: Rows) -> None:
    mine, theirs = await rows.tenant("usr_a"), await rows.tenant("usr_b")
    await rows.session("mine", tenant_id=mine)
    await rows.session("theirs", tenant_id=theirs)
    key = await rows.key(Role.ADMIN, tenant_id=mine)
    response = await client.get("/api/sessions", headers=key)
    assert [s["id"] for s in (await response.json())["data"]] == ["mine"]
    for method, path in (("GET", "/api/sessions/theirs"), ("DELETE", "/api/sessions/theirs"),
                         ("POST", "/api/sessions/theirs/start"), ("PUT", "/api/sessions/theirs/settings"),
                         ("POST", "/api/sessions/theirs/token")):
        response = await client.request(method, path, headers=key, json={"name": "x"})
        assert response.status == 404, (method, path)  # another tenant's session: as if missing
    response = await client.post("/api/sessions", headers=key, json={"name": "x", "tenant_id": theirs})
    assert response.status == 403
    response = await client.post("/api/sessions", headers=key, json={"id": "new", "name": "x",
                                                                     "auto_connect": False})
    assert response.status == 201 and (await response.json())["data"]["session"]["tenant_id"] == mine
    response = await client.get("/api/sessions", headers=await rows.key(Role.USER))
    assert sorted(s["id"] for s in (await response.json())["data"]) == ["mine", "new", "theirs"]
    assert (await rows.get(WaSession, "theirs")) is not None


async def test_settings_token_and_delete(client: TestClient, rows: Rows) -> None:
    await rows.session("s1")
    admin = await rows.key(Role.ADMIN)
    response = await client.put("/api/sessions/s1/settings", headers=admin,
                                json={"name": "Front desk", "auto_read_enabled": True, "webhook_events": "message,qr"})
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert data["name"] == "Front desk" and data["auto_read_enabled"] is True
    assert data["webhook_events"] == ["message.received", "qr.generated"]
    for bad in ({"typing_enabled": "on"}, {"colour": "red"}, {"webhook_url": "nope"}):
        response = await client.put("/api/sessions/s1/settings", headers=admin, json=bad)
        assert response.status == 400, bad
    assert (await rows.get(WaSession, "s1")).typing_enabled is False

    response = await client.post("/api/sessions/s1/token", headers=admin)
    token = (await response.json())["data"]["token"]
    assert (await rows.get(WaSession, "s1")).token_hash == hash_token(token)

    response = await client.delete("/api/sessions/s1", headers=admin)
    assert response.status == 200
    assert await rows.get(WaSession, "s1") is None
    assert (await client.delete("/api/sessions/s1", headers=admin)).status == 404
    # Its last event, for dashboards showing the list and for webhooks: the bridge has no row to publish from.
    stream = await client.app[REDIS].xrange(EVENT_STREAM)
    [last] = [json.loads(fields[b"event"]) for _, fields in stream]
    assert (last["event"], last["session"]) == ("session.status", "s1")
    assert last["data"] == {"status": "LOGGED_OUT", "previous": "WORKING", "reason": "session deleted", "deleted": True}
    actions = [a.action for a in await rows.audits()]
    assert actions == ["session.update", "session.token_rotate", "session.delete"]
    response = await client.get("/api/sessions", params={"status": "SLEEPING"}, headers=admin)
    assert response.status == 400


async def test_history_sync_setting(client: TestClient, rows: Rows) -> None:
    await rows.session("h1")
    admin = await rows.key(Role.ADMIN)
    shown = (await (await client.get("/api/sessions/h1/settings", headers=admin)).json())["data"]
    assert shown["history_sync"] == "recent"  # the default: the last 30 days of the phone's history
    response = await client.put("/api/sessions/h1/settings", headers=admin, json={"history_sync": "everything"})
    assert response.status == 400 and "history_sync" in (await response.json())["details"]
    response = await client.put("/api/sessions/h1/settings", headers=admin, json={"history_sync": "none"})
    assert response.status == 200, await response.text()
    assert (await response.json())["data"]["history_sync"] == "none"
    row = await rows.get(WaSession, "h1")
    assert row.settings == {"history_sync": "none"}
    assert [a.details for a in await rows.audits() if a.action == "session.update"] == [
        {"changed": {"history_sync": "none"}}]
    # Chosen at creation, before the phone is linked and sends its history.
    response = await client.post("/api/sessions", headers=admin, json={"id": "h2", "history_sync": "full",
                                                                      "auto_connect": False})
    assert response.status == 201, await response.text()
    assert (await response.json())["data"]["session"]["settings"]["history_sync"] == "full"
    assert (await rows.get(WaSession, "h2")).settings == {"history_sync": "full"}
    response = await client.post("/api/sessions", headers=admin, json={"id": "h3", "history_sync": "all"})
    assert response.status == 400 and "history_sync" in (await response.json())["details"]
