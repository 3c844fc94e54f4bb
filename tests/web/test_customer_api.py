"""The customer API (/v1) over real HTTP: own sessions only, subscription and session limits, settings, contacts
(with a real bridge for the sync), sends and message lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from tests.web.spec import documented_call
from tests.web.tenancy import Db, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import ActorType, SessionStatus
from wagate.db.models_whatsapp import Contact
from wagate.services.identity import tenants
from wagate.services.sessions import registry
from wagate.services.sessions.lifecycle import Actor
from wagate.web.keys import REDIS

SESSION_KEYS = {"session_id", "session_name", "status", "connected", "phone", "jid", "push_name", "platform",
                "auto_read_enabled", "typing_enabled", "webhook_url", "events", "options", "created_at",
                "updated_at", "connected_at"}
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002"
                    "000154a24f5d0000000049454e44ae426082")


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url)


@pytest.fixture
async def keys(db: Db) -> dict[str, Any]:
    mine, key = await tenant(db, "usr_1", max_sessions=2, max_messages=100)
    other, other_key = await tenant(db, "usr_2")
    return {"tenant": mine, "h": {"x-api-key": key}, "other": other, "other_h": {"x-api-key": other_key}}


call = documented_call  # every answer of these tests is also held to the OpenAPI document


async def test_me_and_expiry(client: TestClient, db: Db, keys: dict[str, Any]) -> None:
    me = await call(client, "GET", "/v1/me", keys["h"], 200)
    assert set(me) == {"user", "subscription"}
    assert set(me["user"]) == {"user_id", "source", "name", "provider", "created_at"}
    assert set(me["subscription"]) == {"status", "active", "expires_at", "max_sessions", "max_messages",
                                       "messages_sent", "sessions"}
    assert me["subscription"]["active"] is True and me["subscription"]["max_sessions"] == 2
    await tenants.update_tenant(db, client.app[REDIS], "usr_1", scope="svc-a", source=None, timezone="Asia/Jakarta",
                                values={"expires_at": datetime.now(UTC) - timedelta(seconds=1)},
                                actor=Actor(ActorType.SYSTEM, "tests"))
    me = await call(client, "GET", "/v1/me", keys["h"], 200)  # still answers, and says why
    assert me["subscription"]["status"] == "expired" and me["subscription"]["active"] is False
    await call(client, "GET", "/v1/sessions", keys["h"], 403)
    await call(client, "POST", "/v1/sessions", keys["h"], 403, json={"session_name": "x"})
    await call(client, "GET", "/v1/me", {}, 401)
    await call(client, "GET", "/v1/me", {"x-api-key": "wag_nope"}, 401)


async def test_create_list_update_delete_a_session(client: TestClient, db: Db, keys: dict[str, Any],
                                                   settings: Settings) -> None:
    body = {"session_name": "marketing-1", "webhook_url": "https://93.184.215.14/webhook",
            "events": "Message,Connected,Disconnected,QR", "expiration_sec": 0, "auto_connect": False,
            "auto_read_enabled": False, "typing_enabled": True, "history": 0, "session_id": "mk-1"}
    created = await call(client, "POST", "/v1/sessions", keys["h"], 201, json=body)
    assert set(created) == {"session", "token", "start_job_id"} and created["start_job_id"] is None
    assert set(created["session"]) == SESSION_KEYS | {"session_token"}  # genfity-wa-support's name for the token
    assert created["session"]["session_token"] == created["token"]
    assert created["session"]["events"] == ["message.received", "connection.open", "connection.close",
                                             "qr.generated"]
    assert created["session"]["options"] == {"expiration_sec": 0, "history": 0}
    assert created["session"]["typing_enabled"] is True and created["session"]["status"] == "STOPPED"
    entries = await registry.read(settings)
    assert [(e["sessionId"], e["token"]) for e in entries] == [("mk-1", created["token"])]
    listed = await call(client, "GET", "/v1/sessions", keys["h"], 200)
    assert listed["count"] == 1 and listed["sessions"][0]["session_id"] == "mk-1"
    assert (await call(client, "GET", "/v1/sessions", keys["other_h"], 200))["count"] == 0
    updated = await call(client, "PUT", "/v1/sessions/mk-1", keys["h"], 200,
                         json={"session_name": "renamed", "history": 50, "auto_connect": True})
    assert updated["session"]["session_name"] == "renamed" and updated["session"]["options"]["history"] == 50
    assert updated["start_job_id"].startswith("cmd:mk-1:start:")
    await call(client, "PUT", "/v1/sessions/mk-1", keys["other_h"], 404, json={"session_name": "mine"})
    await call(client, "DELETE", "/v1/sessions/mk-1", keys["other_h"], 404)
    deleted = await call(client, "DELETE", "/v1/sessions/mk-1", keys["h"], 200)
    assert deleted["deleted"] is True and deleted["session_id"] == "mk-1"
    assert await registry.read(settings) == []
    await call(client, "DELETE", "/v1/sessions/mk-1", keys["h"], 404)


@pytest.mark.parametrize("body", [
    {}, {"session_name": ""}, {"session_name": 3}, {"session_name": "a", "auto_connect": "maybe"},
    {"session_name": "a", "events": 5}, {"session_name": "a", "events": "Nonsense"},
    {"session_name": "a", "webhook_url": "ftp://x"}, {"session_name": "a", "expiration_sec": -1},
    {"session_name": "a", "history": "10"}, {"session_name": "a", "session_id": "bad id!"},
    {"session_name": "a", "unknown": 1},
])
async def test_bad_session_bodies_are_400(client: TestClient, keys: dict[str, Any], body: dict[str, Any]) -> None:
    answer = await call(client, "POST", "/v1/sessions", keys["h"], 400, json=body)
    assert answer["success"] is False and answer["details"]


async def test_max_sessions_caps_creation(client: TestClient, keys: dict[str, Any]) -> None:
    for name in ("a", "b"):
        await call(client, "POST", "/v1/sessions", keys["h"], 201, json={"session_name": name, "auto_connect": False})
    refused = await call(client, "POST", "/v1/sessions", keys["h"], 403, json={"session_name": "c"})
    assert "limit" in refused["message"]
    response = await client.post("/v1/sessions", headers={**keys["h"], "Content-Type": "application/json"},
                                 data=b"{broken")
    assert response.status == 400


async def test_settings_read_and_write(client: TestClient, db: Db, keys: dict[str, Any]) -> None:
    await session(db, "s1", keys["tenant"], messages_sent=4, messages_received=2)
    await session(db, "theirs", keys["other"])
    got = await call(client, "GET", "/v1/sessions/s1/settings", keys["h"], 200)
    assert got == {"session_id": "s1", "webhook_url": None, "message_stat_sent": 4, "message_stat_failed": 0,
                   "settings": {"session_id": "s1", "auto_read_enabled": False, "typing_enabled": False,
                                "webhook_url": None, "events": None,
                                "stats": {"messages_sent": 4, "messages_received": 2, "messages_failed": 0}}}
    put = await call(client, "PUT", "/v1/sessions/s1/settings", keys["h"], 200,
                     json={"auto_read_enabled": True, "events": ["message.received"], "webhook_url": None})
    assert put["settings"]["auto_read_enabled"] is True and put["settings"]["events"] == ["message.received"]
    assert put["message"] == "settings updated" and put["session_id"] == "s1"
    await call(client, "PUT", "/v1/sessions/s1/settings", keys["h"], 400, json={"typing_enabled": "yes please"})
    await call(client, "PUT", "/v1/sessions/s1/settings", keys["h"], 400, json={"session_name": "x"})
    await call(client, "GET", "/v1/sessions/theirs/settings", keys["h"], 404)
    await call(client, "PUT", "/v1/sessions/theirs/settings", keys["h"], 404, json={"typing_enabled": True})
    await call(client, "GET", "/v1/sessions/none/settings", keys["h"], 404)


async def test_contacts_from_the_cache_and_sync_requests(client: TestClient, db: Db, keys: dict[str, Any]) -> None:
    await session(db, "s1", keys["tenant"])
    await session(db, "idle", keys["tenant"], status=SessionStatus.STOPPED)
    await session(db, "theirs", keys["other"])
    async with db() as s, s.begin():
        s.add(Contact(session_id="s1", jid="6281200000001@s.whatsapp.net", phone="6281200000001", name="Budi"))
    cached = await call(client, "GET", "/v1/sessions/s1/contacts?sync=false", keys["h"], 200)
    assert cached["sync"] is None and cached["count"] == 1
    assert set(cached["contacts"][0]) == {"jid", "phone", "name", "push_name", "business_name", "lid", "synced_at"}
    idle = await call(client, "GET", "/v1/sessions/idle/contacts", keys["h"], 200)
    assert idle["sync"]["requested"] is False and "STOPPED" in idle["sync"]["reason"]
    await call(client, "POST", "/v1/sessions/idle/contacts/sync", keys["h"], 409)
    queued = await call(client, "POST", "/v1/sessions/s1/contacts/sync", keys["h"], 202)
    assert queued["sync"]["job_id"].startswith("cmd:s1:sync_contacts:")
    assert queued["synced"] == 1  # no bridge runs here: the cached contact, after waiting for the sync
    await call(client, "GET", "/v1/sessions/theirs/contacts", keys["h"], 404)
    await call(client, "POST", "/v1/sessions/theirs/contacts/sync", keys["h"], 404)
    await call(client, "GET", "/v1/sessions/s1/contacts?sync=perhaps", keys["h"], 400)


async def test_send_text_and_media_then_list(client: TestClient, db: Db, keys: dict[str, Any]) -> None:
    await session(db, "s1", keys["tenant"], jid="6281100000001@s.whatsapp.net")
    await session(db, "theirs", keys["other"])
    sent = await call(client, "POST", "/v1/sessions/s1/messages", {**keys["h"], "Idempotency-Key": "k-1"}, 202,
                      json={"to": "0812-3456-7890", "message": "Halo"})
    assert set(sent) == {"message", "created"} and sent["created"] is True
    assert sent["message"]["to"] == "6281234567890" and sent["message"]["status"] == "queued"
    again = await call(client, "POST", "/v1/sessions/s1/messages", {**keys["h"], "Idempotency-Key": "k-1"}, 200,
                       json={"to": "0812-3456-7890", "message": "Halo"})
    assert again["message"]["id"] == sent["message"]["id"] and again["created"] is False
    form = FormData()
    form.add_field("to", "6281234567890")
    form.add_field("caption", "a dot")
    form.add_field("file", PNG, filename="dot.png", content_type="image/png")
    media = await call(client, "POST", "/v1/sessions/s1/messages", keys["h"], 202, data=form)
    assert media["message"]["type"] == "image" and media["message"]["caption"] == "a dot"
    for bad in ({"message": "no recipient"}, {"to": "12", "message": "x"}, {"to": "6281234567890"},
                {"to": 6281234567890, "message": "x"}):
        await call(client, "POST", "/v1/sessions/s1/messages", keys["h"], 400, json=bad)
    await call(client, "POST", "/v1/sessions/theirs/messages", keys["h"], 404, json={"to": "6281234567890",
                                                                                       "message": "x"})
    page = await call(client, "GET", "/v1/sessions/s1/messages?limit=10", keys["h"], 200)
    assert set(page) == {"messages", "page", "limit", "total"} and page["total"] == 2
    await call(client, "GET", "/v1/sessions/s1/messages?limit=101", keys["h"], 400)
    await call(client, "GET", "/v1/sessions/s1/messages?status=lost", keys["h"], 400)
    await call(client, "GET", "/v1/sessions/theirs/messages", keys["h"], 404)
