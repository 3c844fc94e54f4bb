"""A Genfity-style bot end to end with nothing but its session token: connect, QR, link on the (simulated) phone,
send a text and an image by URL, receive a message as wuzapi's webhook, check a number, list contacts and groups.
The gateway's real parts run: the web app, a bridge on the simulator, the webhook worker, Valkey and the database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.bridge.conftest import BRIDGE_ENV, sent_by, start_bridge, until
from tests.services.test_media import JPEG
from tests.services.webhook_receiver import FAST, listening, running_worker
from tests.web.tenancy import Db, reseller_settings, tenant
from tests.web.wuzapi.calls import wz
from wagate.config import Settings

BOT_PHONE = "6281234567890"
CUSTOMER = "6281298765432"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, **{**BRIDGE_ENV, **FAST})


@pytest.fixture
async def image_url() -> AsyncIterator[str]:
    async def promo(request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/promo.jpg", promo)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/promo.jpg"
    await runner.cleanup()


async def test_a_bot_with_only_its_session_token(client: TestClient, db: Db, settings: Settings,
                                                 image_url: str) -> None:
    _, key = await tenant(db, max_sessions=1)
    # The reseller made the session and handed its token to the bot (genfity-wa-support's session_token).
    created = await (await client.post("/v1/sessions", headers={"x-api-key": key},
                                       json={"session_name": "bot", "session_id": "bot-1", "auto_connect": False}
                                       )).json()
    token = created["session"]["session_token"]
    handle = await start_bridge(settings)
    try:
        async with listening() as receiver, running_worker(settings):
            await wz(client, "POST", "/wa/webhook", token, 200, data=json.dumps({"webhookURL": receiver.url}))
            connected = await wz(client, "POST", "/wa/session/connect", token, 200,
                                 data='{"Subscribe":["Message"],"Immediate":false}')
            assert connected["data"]["webhook"] == receiver.url and connected["data"]["events"] == "Message"
            qr = (await wz(client, "GET", "/wa/session/qr", token, 200))["data"]["QRCode"]
            assert qr.startswith("data:image/png;base64,")
            await handle.sim.scan("bot-1", phone=BOT_PHONE)

            async def logged_in() -> bool:
                return bool((await wz(client, "GET", "/wa/session/status", token, 200))["data"]["LoggedIn"])

            await until(logged_in, what="LoggedIn")
            await until(lambda: handle.sim.is_connected("bot-1"), what="connected")
            text = (await wz(client, "POST", "/wa/chat/send/text", token, 200,
                             data=json.dumps({"Phone": CUSTOMER, "Body": "Halo, pesanan Anda siap"})))["data"]
            image = (await wz(client, "POST", "/wa/chat/send/image", token, 200,
                              data=json.dumps({"Phone": CUSTOMER, "Image": image_url, "Caption": "Promo"})))["data"]

            async def both_sent() -> bool:
                return {m.message_id for m in sent_by(handle.sim, "bot-1")} >= {text["Id"], image["Id"]}

            await until(both_sent, what="both messages on WhatsApp")
            by_id = {m.message_id: m for m in sent_by(handle.sim, "bot-1")}
            assert (by_id[text["Id"]].kind, by_id[text["Id"]].text) == ("text", "Halo, pesanan Anda siap")
            assert (by_id[image["Id"]].kind, by_id[image["Id"]].text) == ("image", "Promo")
            assert by_id[image["Id"]].to == f"{CUSTOMER}@s.whatsapp.net"

            incoming = await handle.sim.inject_message("bot-1", CUSTOMER, "Terima kasih!", push_name="Siti")
            [hook] = await receiver.wait_for(1, timeout_s=20)
            body = json.loads(hook.body)
            assert body["type"] == "Message" and body["event"]["Message"] == {"conversation": "Terima kasih!"}
            assert body["event"]["Info"]["ID"] == incoming.message_id
            assert body["event"]["Info"]["Sender"] == f"{CUSTOMER}@s.whatsapp.net"
            assert body["event"]["Info"]["PushName"] == "Siti" and hook.headers["X-WAGate-Signature"]

            users = (await wz(client, "POST", "/wa/user/check", token, 200,
                              data=json.dumps({"Phone": [CUSTOMER]})))["data"]["Users"]
            assert users == [{"IsInWhatsapp": True, "JID": f"{CUSTOMER}@s.whatsapp.net", "Query": CUSTOMER,
                              "VerifiedName": ""}]
            contacts = (await wz(client, "GET", "/wa/user/contacts", token, 200))["data"]
            assert contacts and all(jid.endswith("@s.whatsapp.net") for jid in contacts)
            groups = await wz(client, "GET", "/wa/group/list", token, 200)
            assert groups["data"] == {"Groups": []}
            # Only the Message events were subscribed: the receipts of the two sends made no webhook.
            assert [json.loads(r.body)["type"] for r in receiver.requests] == ["Message"]
    finally:
        await handle.stop()
