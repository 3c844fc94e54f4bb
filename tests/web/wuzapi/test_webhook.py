"""wuzapi's /webhook under /wa, and what a webhook set there receives: wuzapi's body through the gateway's durable,
signed delivery; its format shown and changed in /api/webhooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.services.webhook_receiver import FAST, listening, running_worker, verify_wagate, wait_deliveries
from tests.web.tenancy import Db, reseller_settings, session, tenant
from tests.web.wuzapi.calls import wz
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus, Role
from wagate.db.models_identity import ApiKey
from wagate.services import events
from wagate.services.identity.credentials import new_api_key
from wagate.services.sessions import lifecycle
from wagate.services.webhooks import secrets_box
from wagate.web.keys import REDIS


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, **FAST)


async def test_get_set_update_delete(client: TestClient, db: Db) -> None:
    token = await session(db, "s1", (await tenant(db))[0])
    assert (await wz(client, "GET", "/wa/webhook", token, 200))["data"] == {"webhook": "", "subscribe": ["All"]}
    answer = await wz(client, "POST", "/wa/webhook", token, 200, data='{"webhookURL":"https://93.184.215.14/webhook"}')
    assert answer["data"] == {"webhook": "https://93.184.215.14/webhook"}
    row = await lifecycle.get_session(db, "s1")
    assert row.webhook_url == "https://93.184.215.14/webhook" and row.settings == {"webhook_format": "wuzapi"}
    await wz(client, "POST", "/wa/webhook", token, 200,
             data='{"webhookurl":"https://93.184.215.14/hook2","events":["Message","ReadReceipt"]}')
    got = (await wz(client, "GET", "/wa/webhook", token, 200))["data"]
    assert got == {"webhook": "https://93.184.215.14/hook2", "subscribe": ["Message", "ReadReceipt"]}
    updated = await wz(client, "PUT", "/wa/webhook", token, 200,
                       data='{"webhook":"https://93.184.215.14/hook3","events":["Connected"],"active":true}')
    assert updated["data"] == {"webhook": "https://93.184.215.14/hook3", "events": ["Connected"], "active": True}
    assert (await lifecycle.get_session(db, "s1")).webhook_events == ["connection.open"]
    await wz(client, "PUT", "/wa/webhook", token, 200, data='{"webhook":"https://93.184.215.14/h","active":false}')
    assert (await lifecycle.get_session(db, "s1")).webhook_url is None  # inactive clears it, as in wuzapi
    await wz(client, "POST", "/wa/webhook", token, 200, data='{"webhookURL":"https://93.184.215.14/webhook"}')
    deleted = await wz(client, "DELETE", "/wa/webhook", token, 200)
    assert deleted["data"] == {"Details": "Webhook and events deleted successfully"}
    row = await lifecycle.get_session(db, "s1")
    assert (row.webhook_url, row.webhook_events) == (None, None)
    await wz(client, "POST", "/wa/webhook", token, 400, data='{"webhookURL":"ftp://nope"}')
    await wz(client, "POST", "/wa/webhook", token, 400, data='{"webhookURL":"https://a.example","events":"Message"}')
    await wz(client, "PUT", "/wa/webhook", token, 400, data='{"active":"yes"}')


async def test_a_wuzapi_webhook_gets_wuzapi_bodies_signed(client: TestClient, db: Db, settings: Settings) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id)
    key = new_api_key()
    async with db() as s, s.begin():
        s.add(ApiKey(name="admin", key_hash=key.hash, prefix=key.prefix, role=Role.ADMIN))
    admin = {"x-api-key": key.plaintext}
    async with listening() as receiver, running_worker(settings):
        await wz(client, "POST", "/wa/webhook", token, 200,
                 data=json.dumps({"webhookURL": receiver.url, "events": ["Message", "ReadReceipt"]}))
        received = events.message_envelope("message.received", "s1", 7, {
            "from": "5491155554444@s.whatsapp.net", "message": "Halo", "messageId": "3EB0AA", "pushName": "Budi",
            "type": "text", "chat": "5491155554444@s.whatsapp.net", "isGroup": False, "fromMe": False,
            "senderLid": None, "quotedMessageId": None, "timestamp": 1765000000, "media": None}, timestamp=1765000000)
        sent = events.message_envelope("message.sent", "s1", 8, {"messageId": "3EB0BB", "to": "5491155554444"})
        read = events.message_envelope("message.read", "s1", 8, {"messageId": "3EB0BB", "to": "5491155554444",
                                                                 "status": "read", "timestamp": 1765000009})
        await events.publish(client.app[REDIS], tenant_id, received, sent, read)
        await wait_deliveries(db, 2, status=DeliveryStatus.DELIVERED)
        bodies = [json.loads(r.body) for r in await receiver.wait_for(2)]
        listed = await (await client.get("/api/webhooks", headers=admin)).json()
    assert [b["type"] for b in bodies] == ["Message", "ReadReceipt"]  # message.sent has no wuzapi name: not sent
    message = bodies[0]["event"]
    assert message["Info"] == {"Chat": "5491155554444@s.whatsapp.net", "Sender": "5491155554444@s.whatsapp.net",
                               "SenderAlt": "", "IsFromMe": False, "IsGroup": False, "ID": "3EB0AA", "Type": "text",
                               "MediaType": "", "PushName": "Budi", "Timestamp": "2025-12-06T05:46:40Z"}
    assert message["Message"] == {"conversation": "Halo"} and bodies[0]["session"] == "s1"
    assert bodies[1]["state"] == "Read" and bodies[1]["event"]["MessageIDs"] == ["3EB0BB"]
    [hook] = listed["data"]
    assert hook["format"] == "wuzapi" and hook["managed_by_session_settings"] is True
    row = await lifecycle.get_session(db, "s1")
    secret = secrets_box.decrypt(settings.encryption_key, row.webhook_secret_encrypted or "")
    assert all(verify_wagate(secret, r) for r in receiver.requests)
    # Its format can be changed there (it is written to the session's settings); nothing else of it can.
    changed = await client.put(f"/api/webhooks/{hook['id']}", headers=admin, json={"format": "wagate"})
    assert changed.status == 200 and (await changed.json())["data"]["format"] == "wagate"
    assert (await lifecycle.get_session(db, "s1")).settings == {"webhook_format": "wagate"}
    assert (await client.put(f"/api/webhooks/{hook['id']}", headers=admin, json={"url": "http://127.0.0.1:9/x"})
            ).status == 409
    assert (await client.put(f"/api/webhooks/{hook['id']}", headers=admin, json={"format": "xml"})).status == 400


async def test_v1_events_in_wuzapi_names_choose_wuzapi_bodies(client: TestClient, db: Db) -> None:
    _, key = await tenant(db)
    body = {"session_name": "bot", "session_id": "bot-1", "webhook_url": "https://93.184.215.14/webhook",
            "events": "Message,Connected,Disconnected,QR", "auto_connect": False}
    created = await client.post("/v1/sessions", headers={"x-api-key": key}, json=body)
    assert created.status == 201
    assert (await lifecycle.get_session(db, "bot-1")).settings == {"webhook_format": "wuzapi"}
    plain = await client.post("/v1/sessions", headers={"x-api-key": key},
                              json={**body, "session_id": "bot-2", "events": "message.received"})
    assert plain.status == 201 and not (await lifecycle.get_session(db, "bot-2")).settings
