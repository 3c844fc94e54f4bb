"""Message kinds over real HTTP on /api/messages/send and the reseller's /v1 send: JSON and multipart, every answer
held to the OpenAPI document, refusals in the one error shape with nothing written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from tests import media_samples
from tests.services.test_media import PDF
from tests.web.api_rows import Db, Rows
from tests.web.spec import documented_call
from wagate.db.enums import Direction, MessageStatus, MessageType
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow

TO = "6281234567890"
CHAT = f"{TO}@s.whatsapp.net"
SEND = "/api/messages/send"


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


async def _arrange(db: Db) -> None:
    """A text this session sent two minutes ago, one an hour ago, and one it received."""
    now = utcnow()
    async with db() as s, s.begin():
        for wa_id, direction, sent_at in (("3EB0SENT", Direction.OUTBOUND, now - timedelta(minutes=2)),
                                          ("3EB0OLD", Direction.OUTBOUND, now - timedelta(hours=1)),
                                          ("ACDCIN", Direction.INBOUND, None)):
            s.add(Message(session_id="sales-1", direction=direction, wa_message_id=wa_id, chat_jid=CHAT,
                          recipient=TO if direction == Direction.OUTBOUND else None, type=MessageType.TEXT,
                          body="Halo", status=MessageStatus.SENT, sent_at=sent_at))


async def test_json_kinds_are_queued_and_documented(client: TestClient, rows: Rows, db: Db) -> None:
    await rows.session("sales-1")
    await _arrange(db)
    headers = await rows.key()
    poll = await documented_call(client, "POST", SEND, headers, 202, json={
        "to": TO, "type": "poll", "question": "Makan di mana?", "options": ["Padang", "Sunda", "Jawa"],
        "selectable": 2})
    assert poll["data"]["type"] == "poll" and poll["data"]["content"]["selectable"] == 2
    contact = await documented_call(client, "POST", SEND, headers, 202, json={
        "to": TO, "type": "contact", "contacts": [{"name": "Budi", "phone": "+62 812 1111 2222"}]})
    assert contact["data"]["content"]["contacts"][0]["name"] == "Budi"
    reaction = await documented_call(client, "POST", SEND, headers, 202, json={
        "type": "reaction", "target": "ACDCIN", "emoji": "🙏"})
    assert (reaction["data"]["type"], reaction["data"]["chat"]) == ("reaction", CHAT)
    edit = await documented_call(client, "POST", SEND, headers, 202, json={
        "type": "edit", "target": "3EB0SENT", "message": "Halo lagi"})
    assert (edit["data"]["type"], edit["data"]["text"]) == ("edit", "Halo lagi")
    revoke = await documented_call(client, "POST", SEND, headers, 202, json={"type": "revoke", "target": "3EB0SENT"})
    assert revoke["data"]["type"] == "revoke"
    live = await documented_call(client, "POST", SEND, headers, 202, json={
        "to": TO, "type": "live_location", "latitude": -6.2, "longitude": 106.8})
    assert live["data"]["content"]["live"] is True
    text = await documented_call(client, "POST", SEND, headers, 202, json={
        "to": TO, "message": "Halo @6285712345678", "reply_to": "ACDCIN"})
    assert text["data"]["content"]["mentions"] == ["6285712345678@s.whatsapp.net"]
    assert len(await rows.messages()) == 3 + 7


async def test_multipart_voice_note_and_sticker(client: TestClient, rows: Rows) -> None:
    await rows.session("sales-1")
    headers = await rows.key()
    form = FormData()
    form.add_field("to", TO)
    form.add_field("type", "voice")
    form.add_field("file", media_samples.mp3(2), filename="rekaman.mp3", content_type="audio/mpeg")
    voice = await documented_call(client, "POST", SEND, headers, 202, data=form)
    assert voice["data"]["type"] == "audio" and voice["data"]["media"]["mimetype"] == "audio/ogg; codecs=opus"
    assert voice["data"]["content"] == {"ptt": True, "seconds": 2}
    form = FormData()
    form.add_field("to", TO)
    form.add_field("type", "sticker")
    form.add_field("file", media_samples.png(), filename="stiker.png", content_type="image/png")
    sticker = await documented_call(client, "POST", SEND, headers, 202, data=form)
    assert sticker["data"]["type"] == "sticker" and sticker["data"]["media"]["mimetype"] == "image/webp"


REFUSALS: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown type", {"to": TO, "type": "carousel"}, 400, "type"),
    ("poll without options", {"to": TO, "type": "poll", "question": "Q?"}, 400, "options"),
    ("poll option too long", {"to": TO, "type": "poll", "question": "Q?", "options": ["a", "b" * 101]}, 400,
     "options"),
    ("contact card without a name", {"to": TO, "type": "contact", "contacts": [{"phone": "62812"}]}, 400, "contacts"),
    ("reaction to no message", {"type": "reaction", "target": "NOPE", "emoji": "👍"}, 404, "target"),
    ("edit of a received message", {"type": "edit", "target": "ACDCIN", "message": "x"}, 422, "target"),
    ("edit past WhatsApp's window", {"type": "edit", "target": "3EB0OLD", "message": "x"}, 409, "target"),
    ("media from a private address", {"to": TO, "type": "image", "media_url": "http://192.168.1.10/a.jpg"}, 400,
     "media_url"),
    ("media_url without a type", {"to": TO, "media_url": "https://example.com/a.jpg"}, 400, "type"),
    ("selectable as text", {"to": TO, "type": "poll", "question": "Q?", "options": ["a", "b"], "selectable": "x"},
     400, "selectable"),
]


@pytest.mark.parametrize(("body", "status", "field"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
async def test_refusals_have_the_one_error_shape_and_write_nothing(client: TestClient, rows: Rows, db: Db,
                                                                   body: dict[str, Any], status: int,
                                                                   field: str) -> None:
    await rows.session("sales-1")
    await _arrange(db)
    answer = await documented_call(client, "POST", SEND, await rows.key(), status, json=body)
    assert answer["success"] is False and answer["message"]
    assert any(name.split(".")[0] == field for name in answer["details"]), answer["details"]
    assert len(await rows.messages()) == 3


async def test_a_mislabelled_sticker_is_415(client: TestClient, rows: Rows) -> None:
    await rows.session("sales-1")
    form = FormData()
    form.add_field("to", TO)
    form.add_field("type", "sticker")
    form.add_field("file", PDF, filename="stiker.png", content_type="image/png")
    answer = await documented_call(client, "POST", SEND, await rows.key(), 415, data=form)
    assert "PDF document cannot be sent as a sticker" in answer["message"]
    assert await rows.messages() == []
