"""wuzapi's /chat/* under /wa: sends exactly as API.md writes them, queued on the gateway's own send path, and the
chat routes the gateway does not serve (501 naming the capability)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.services.test_media import JPEG, PNG, iso_media, ogg
from tests.web.tenancy import Db, reseller_settings, session, tenant
from tests.web.wuzapi.calls import PHONE, wz
from wagate.config import Settings
from wagate.db.enums import MessageStatus, MessageType, SessionStatus
from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message

OPUS = ogg(b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00")
MP4 = iso_media(b"isom", b"vide", b"soun")


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    # The image server of these tests is on 127.0.0.1, which the outbound guard otherwise refuses.
    return reseller_settings(tmp_path, database_url, redis_url, WEBHOOK_ALLOW_PRIVATE="true")


@pytest.fixture
async def files() -> AsyncIterator[str]:
    """An http server of media files, as a bot's image URL points at."""
    async def cat(request: web.Request) -> web.Response:
        return web.Response(body=JPEG, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/cat.jpg", cat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def data_uri(mimetype: str, data: bytes) -> str:
    return f"data:{mimetype};base64,{base64.b64encode(data).decode()}"


async def stored(db: Db, wa_id: str) -> Message:
    async with db() as s:
        row = await s.scalar(select(Message).where(Message.wa_message_id == wa_id))
    assert row is not None
    return row


async def test_send_text_as_api_md_and_again_with_the_same_id(client: TestClient, db: Db) -> None:
    token = await session(db, "s1", (await tenant(db))[0], jid="5491155553934@s.whatsapp.net")
    example = '{"Phone":"5491155554444","Body":"Hellow Meow", "Id": "90B2F8B13FAC8A9CF6B06E99C7834DC5"}'
    first = (await wz(client, "POST", "/wa/chat/send/text", token, 200, data=example))["data"]
    assert first["Id"] == "90B2F8B13FAC8A9CF6B06E99C7834DC5" and first["Details"] == "Queued"
    row = await stored(db, first["Id"])
    assert (row.session_id, row.recipient, row.body, row.status) == ("s1", PHONE, "Hellow Meow", MessageStatus.QUEUED)
    again = (await wz(client, "POST", "/wa/chat/send/text", token, 200, data=example))["data"]
    assert again["Details"] == "Already queued" and again["MessageId"] == first["MessageId"]
    reply = '{"Phone":"5491155554444","Body":"Ditto","ContextInfo":{"StanzaId":"AA3DSE28UDJES3",' \
            '"Participant":"5491155553935@s.whatsapp.net"}}'
    answered = (await wz(client, "POST", "/wa/chat/send/text", token, 200, data=reply))["data"]
    assert answered["Id"].startswith("3EB0") and (await stored(db, answered["Id"])).reply_to == "AA3DSE28UDJES3"


async def test_send_text_refusals(client: TestClient, db: Db) -> None:
    tenant_id, _ = await tenant(db, max_messages=1)
    token = await session(db, "s1", tenant_id)
    path = "/wa/chat/send/text"
    assert (await wz(client, "POST", path, token, 400, data='{"Body":"x"}'))["error"] == "Missing Phone in Payload"
    assert (await wz(client, "POST", path, token, 400, data=f'{{"Phone":"{PHONE}"}}'))["error"] == \
        "Missing Body in Payload"
    assert (await wz(client, "POST", path, token, 400, data="{bad"))["error"] == "Could not decode Payload"
    await wz(client, "POST", path, token, 400, data='{"Phone":"not a number","Body":"x"}')
    await wz(client, "POST", path, token, 200, data=f'{{"Phone":"{PHONE}","Body":"one"}}')
    limited = await wz(client, "POST", path, token, 403, data=f'{{"Phone":"{PHONE}","Body":"two"}}')
    assert "limit" in limited["error"].lower()  # counted against the tenant's max_messages like every send
    idle = await session(db, "s2", tenant_id, status=SessionStatus.STOPPED)
    await wz(client, "POST", path, idle, 409, data=f'{{"Phone":"{PHONE}","Body":"x"}}')


async def test_send_media_as_data_uri_and_by_url(client: TestClient, db: Db, files: str) -> None:
    token = await session(db, "s1", (await tenant(db))[0])
    cases = [
        ("image", {"Caption": "Look at this", "Image": data_uri("image/png", PNG)}, MessageType.IMAGE, "image/png"),
        ("image", {"Caption": "By URL", "Image": f"{files}/cat.jpg"}, MessageType.IMAGE, "image/jpeg"),
        ("audio", {"Audio": data_uri("audio/ogg", OPUS)}, MessageType.AUDIO, "audio/ogg; codecs=opus"),
        ("document", {"FileName": "hola.txt", "Document": "data:application/octet-stream;base64,aG9sYSBxdWUgdGFsCg=="},
         MessageType.DOCUMENT, "text/plain"),
        ("video", {"Caption": "Look at this", "Video": data_uri("video/mp4", MP4)}, MessageType.VIDEO, "video/mp4"),
    ]
    for route, fields, kind, mimetype in cases:
        sent = (await wz(client, "POST", f"/wa/chat/send/{route}", token, 200,
                         data=json.dumps({"Phone": PHONE, **fields})))["data"]
        row = await stored(db, sent["Id"])
        assert (row.type, row.media_mime, row.caption) == (kind, mimetype, fields.get("Caption")), route
        async with db() as s:
            medium = await s.get(Medium, row.media_id)
        assert medium is not None and medium.mimetype == mimetype  # kept in the media store, by content hash
    assert (await stored(db, sent["Id"])).media_name is not None
    for body, error in (({"Image": "iVBORw0KGgo"}, "should start with"), ({"Image": f"{files}/missing.jpg"}, "404"),
                        ({"Image": "data:image/png;base64,!!!"}, "base64"), ({}, "Missing Image")):
        refused = await wz(client, "POST", "/wa/chat/send/image", token, 400, data=json.dumps({"Phone": PHONE, **body}))
        assert error in refused["error"], refused
    no_name = {"Phone": PHONE, "Document": data_uri("application/pdf", b"%PDF-1.7\n")}
    assert (await wz(client, "POST", "/wa/chat/send/document", token, 400, data=json.dumps(no_name)))["error"] == \
        "Missing FileName in Payload"
    await wz(client, "POST", "/wa/chat/send/image", token, 415,
             data=json.dumps({"Phone": PHONE, "Image": data_uri("image/png", b"MZ\x90\x00" + bytes(64))}))


async def test_send_location(client: TestClient, db: Db) -> None:
    token = await session(db, "s1", (await tenant(db))[0])
    sent = (await wz(client, "POST", "/wa/chat/send/location", token, 200,
                     data='{"Latitude":48.858370,"Longitude":2.294481,"Phone":"5491155554444","Name":"Paris"}'))["data"]
    row = await stored(db, sent["Id"])
    assert row.type == MessageType.LOCATION and row.content == {"latitude": 48.85837, "longitude": 2.294481,
                                                                "name": "Paris"}
    await wz(client, "POST", "/wa/chat/send/location", token, 400, data='{"Phone":"5491155554444","Latitude":1}')
    await wz(client, "POST", "/wa/chat/send/location", token, 400,
             data='{"Phone":"5491155554444","Latitude":91,"Longitude":0}')


@pytest.mark.parametrize(("path", "body"), [
    ("/wa/chat/send/template", '{"Phone":"5491155554444","Content":"Template content","Footer":"Some footer text",'
                               '"Buttons":[{"DisplayText":"Yes","Type":"quickreply"}]}'),
    ("/wa/chat/history", '{"chat_jid":"5491155554444@s.whatsapp.net","limit":10}'),
    ("/wa/chat/downloadimage", '{"Url":"https://mmg.whatsapp.net/d/f/A.enc","Mimetype":"image/jpeg",'
                               '"FileSHA256":"nMth","FileLength":2039,"MediaKey":"vq0R","FileEncSHA256":"6bMV"}'),
    ("/wa/chat/downloaddocument", '{"Url":"https://mmg.whatsapp.net/d/f/A.enc","Mimetype":"application/pdf"}'),
])
async def test_unserved_chat_routes_say_what_is_missing(client: TestClient, db: Db, path: str, body: str) -> None:
    token = await session(db, "s1", (await tenant(db))[0])
    answer = await wz(client, "POST", path, token, 501, data=body)
    assert answer["details"]["capability"][0] in answer["error"] and "not served" in answer["error"]
    async with db() as s:
        assert await s.scalar(select(Message.id)) is None  # nothing was queued
