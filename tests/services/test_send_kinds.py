"""Every message kind accepted (row and content as the bridge will send it) or refused with nothing written, on real
SQLite, MariaDB and Valkey, with real media made by ffmpeg and Pillow."""

from __future__ import annotations

import base64
import dataclasses
import io
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from arq.connections import ArqRedis
from PIL import Image

from tests import media_samples
from tests.services.conftest import Rows
from tests.services.stored_media import stored_bytes
from tests.services.test_media import ELF, PDF
from tests.services.test_messaging import DIGITS, PHONE, SESSION, uploaded_files
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, MessageType
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.errors import Conflict, Invalid, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType, WAGateError
from wagate.services.messaging import media_convert, sending
from wagate.services.messaging.sending import SendRequest

CHAT = f"{DIGITS}@s.whatsapp.net"
SENT_ID = "3EB0AAAAAAAAAAAAAAAAAA01"  # a text this session sent
IN_ID = "ACDC0000000000000000000001"  # a text this session received
OLD_ID = "3EB0AAAAAAAAAAAAAAAAAA02"  # a text sent an hour ago
MEDIA_ID = "3EB0AAAAAAAAAAAAAAAAAA03"  # an image this session sent
OTHER_ID = "3EB0BBBBBBBBBBBBBBBBBB01"  # a text another session (of another tenant) sent


@pytest.fixture
def limits(settings: Settings) -> Settings:
    return settings.replace(max_upload_mb=12)


@pytest.fixture
async def tenant_id(rows: Rows, db: Any, limits: Settings) -> int:
    tenant = await rows.tenant(max_messages=1000)
    await rows.session(SESSION, tenant)
    other = await rows.tenant("usr_other")
    await rows.session("other-1", other)
    image = limits.upload_dir / "stored.jpg"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(media_samples.jpeg())
    now = utcnow()
    async with db() as s, s.begin():
        s.add_all([
            _row(SENT_ID, Direction.OUTBOUND, body="Halo", sent_at=now - timedelta(minutes=2)),
            _row(IN_ID, Direction.INBOUND, body="Selamat pagi", status=MessageStatus.DELIVERED),
            _row(OLD_ID, Direction.OUTBOUND, body="Lama", sent_at=now - timedelta(hours=1)),
            _row(MEDIA_ID, Direction.OUTBOUND, type=MessageType.IMAGE, caption="Foto", media_path=str(image),
                 media_mime="image/jpeg", media_name="foto.jpg", sent_at=now),
            _row(OTHER_ID, Direction.OUTBOUND, session_id="other-1", body="Rahasia", sent_at=now),
        ])
    return tenant


def _row(wa_id: str, direction: Direction, **values: Any) -> Message:
    return Message(**{"session_id": SESSION, "direction": direction, "wa_message_id": wa_id, "chat_jid": CHAT,
                      "recipient": DIGITS if direction == Direction.OUTBOUND else None,
                      "sender_jid": None if direction == Direction.OUTBOUND else CHAT, "type": MessageType.TEXT,
                      "status": MessageStatus.SENT if direction == Direction.OUTBOUND else MessageStatus.DELIVERED,
                      **values})


def req(kind: str, **fields: Any) -> SendRequest:
    return SendRequest(**{"session_id": SESSION, "to": PHONE, "type": kind, **fields})


async def queue(db: Any, redis: ArqRedis, settings: Settings, request: SendRequest, tenant_id: int) -> Message:
    result = await sending.queue_message(db, redis, settings, request, tenant_id=tenant_id)
    assert result.created and result.enqueued
    return result.message


async def test_text_mentions_and_a_reply_quote_the_stored_message(db: Any, arq_redis: ArqRedis, limits: Settings,
                                                                   tenant_id: int) -> None:
    row = await queue(db, arq_redis, limits, req("text", text="Halo @6281234567890 dan @6285712345678, cek ya",
                                                  reply_to=IN_ID), tenant_id)
    assert row.type == MessageType.TEXT and row.reply_to == IN_ID
    assert row.content == {"mentions": ["6281234567890@s.whatsapp.net", "6285712345678@s.whatsapp.net"],
                           "quote": {"sender": CHAT, "from_me": False, "text": "Selamat pagi"}}


async def test_a_given_link_preview_is_kept_and_a_link_is_needed(db: Any, arq_redis: ArqRedis, limits: Settings,
                                                                  tenant_id: int) -> None:
    thumb = base64.b64encode(media_samples.jpeg(32, 32)).decode()
    row = await queue(db, arq_redis, limits, req("text", text="Lihat https://example.com/promo.", link_preview={
        "title": "Promo", "description": "Diskon", "thumbnail": thumb}), tenant_id)
    assert row.content == {"preview": {"url": "https://example.com/promo", "title": "Promo", "description": "Diskon",
                                       "thumbnail": thumb}}
    with pytest.raises(Invalid) as raised:
        await sending.queue_message(db, arq_redis, limits, req("text", text="tanpa tautan", link_preview=True))
    assert "link_preview" in raised.value.details


async def test_a_fetched_link_preview_goes_through_the_ssrf_guard(db: Any, arq_redis: ArqRedis, limits: Settings,
                                                                   tenant_id: int, aiohttp_server: Any) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            '<html><head><meta property="og:title" content="Toko &amp; Kopi">'
            '<meta property="og:description" content="Kopi enak"><meta property="og:image" content="/logo.jpg">'
            "</head><body></body></html>"))

    async def logo(request: web.Request) -> web.Response:
        return web.Response(body=media_samples.jpeg(), content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/logo.jpg", logo)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}/"
    with pytest.raises(Invalid) as raised:  # a loopback address is refused by default
        await sending.queue_message(db, arq_redis, limits, req("text", text=f"Lihat {url}", link_preview=True))
    assert "refused" in raised.value.message and await _count(db) == 5

    allowed = limits.replace(webhook_allow_private=True)
    row = await queue(db, arq_redis, allowed, req("text", text=f"Lihat {url}", link_preview=True), tenant_id)
    preview = (row.content or {})["preview"]
    assert (preview["url"], preview["title"], preview["description"]) == (url, "Toko & Kopi", "Kopi enak")
    with Image.open(io.BytesIO(base64.b64decode(preview["thumbnail"]))) as thumbnail:
        assert thumbnail.format == "JPEG" and max(thumbnail.size) == media_convert.THUMBNAIL_PX


async def test_media_kinds_are_converted_and_measured(db: Any, arq_redis: ArqRedis, limits: Settings,
                                                      tenant_id: int) -> None:
    image = await queue(db, arq_redis, limits, req("image", media=media_samples.jpeg(), caption="Foto"), tenant_id)
    assert image.content is not None and (image.content["width"], image.content["height"]) == (640, 480)
    assert base64.b64decode(image.content["thumbnail"]).startswith(b"\xff\xd8\xff")

    video = await queue(db, arq_redis, limits, req("video", media=media_samples.mp4(2)), tenant_id)
    assert video.content is not None and (video.content["width"], video.content["height"]) == (320, 240)
    assert video.content["seconds"] == 2 and base64.b64decode(video.content["thumbnail"]).startswith(b"\xff\xd8")

    gif = await queue(db, arq_redis, limits, req("gif", media=media_samples.mp4(1)), tenant_id)
    assert gif.type == MessageType.VIDEO and gif.content is not None and gif.content["gif_playback"] is True

    voice = await queue(db, arq_redis, limits, req("voice", media=media_samples.mp3(3), caption="dropped"),
                        tenant_id)
    stored = await stored_bytes(db, limits, voice.media_id)
    assert voice.type == MessageType.AUDIO and voice.media_mime == "audio/ogg; codecs=opus"
    assert stored[:4] == b"OggS" and stored[28:36] == b"OpusHead"
    assert voice.content == {"ptt": True, "seconds": 3} and voice.caption is None

    sticker = await queue(db, arq_redis, limits, req("sticker", media=media_samples.png()), tenant_id)
    data = await stored_bytes(db, limits, sticker.media_id)
    assert sticker.type == MessageType.STICKER and sticker.media_mime == "image/webp"
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "WEBP" and picture.size == (512, 512)

    document = await queue(db, arq_redis, limits, req("document", media=media_samples.pdf(3), file_name="x.pdf"),
                           tenant_id)
    assert document.content == {"page_count": 3} and document.media_name == "x.pdf"


async def test_a_10_mb_video_is_stored_with_its_thumbnail(db: Any, arq_redis: ArqRedis, limits: Settings,
                                                          tenant_id: int) -> None:
    big = media_samples.big_mp4()
    assert len(big) > media_samples.BIG_VIDEO_BYTES
    row = await queue(db, arq_redis, limits, req("video", media=big, caption="Video 10 MB"), tenant_id)
    assert row.content is not None and (row.content["width"], row.content["height"], row.content["seconds"]) == (
        640, 360, 8)
    with Image.open(io.BytesIO(base64.b64decode(row.content["thumbnail"]))) as thumbnail:
        assert thumbnail.size == (100, 56)


async def test_media_by_the_id_of_a_stored_message(db: Any, arq_redis: ArqRedis, limits: Settings,
                                                   tenant_id: int, rows: Rows) -> None:
    [source] = [m for m in await rows.messages() if m.wa_message_id == MEDIA_ID]
    row = await queue(db, arq_redis, limits, req("image", media_id=source.id), tenant_id)
    assert row.media_id is not None and row.media_mime == "image/jpeg"
    assert await stored_bytes(db, limits, row.media_id) == media_samples.jpeg()
    async with db() as s:
        other_tenant = (await s.get(WaSession, "other-1")).tenant_id
    with pytest.raises(NotFound):  # another tenant does not reach it
        await sending.queue_message(db, arq_redis, limits, dataclasses.replace(
            req("image", media_id=source.id), session_id="other-1"), tenant_id=other_tenant)


async def test_contact_poll_and_live_location(db: Any, arq_redis: ArqRedis, limits: Settings, tenant_id: int) -> None:
    cards = await queue(db, arq_redis, limits, req("contact", contacts=[
        {"name": "Budi", "phone": "+62 812-1111-2222"}, {"name": "Sari", "vcard": "BEGIN:VCARD\nFN:Sari\nEND:VCARD"}]),
        tenant_id)
    assert cards.type == MessageType.CONTACT and cards.content is not None
    assert "waid=6281211112222:+6281211112222" in cards.content["contacts"][0]["vcard"]
    poll = await queue(db, arq_redis, limits, req("poll", question="Makan di mana?", options=["Padang", "Sunda"],
                                                  selectable=1), tenant_id)
    assert (poll.type, poll.body, poll.content) == (MessageType.POLL, "Makan di mana?", {
        "question": "Makan di mana?", "options": ["Padang", "Sunda"], "selectable": 1})
    live = await queue(db, arq_redis, limits, req("live_location", latitude=-6.2, longitude=106.8,
                                                  caption="Posisi kurir"), tenant_id)
    assert live.type == MessageType.LOCATION and live.content == {
        "latitude": -6.2, "longitude": 106.8, "live": True, "caption": "Posisi kurir"}


async def test_reaction_edit_revoke_and_forward_find_their_target(db: Any, arq_redis: ArqRedis, limits: Settings,
                                                                   tenant_id: int) -> None:
    reaction = await queue(db, arq_redis, limits, req("reaction", to=None, target=IN_ID, emoji="👍"), tenant_id)
    assert (reaction.type, reaction.recipient, reaction.chat_jid) == (MessageType.REACTION, CHAT, CHAT)
    assert reaction.content is not None and reaction.content["target_from_me"] is False
    assert reaction.content["target_sender"] == CHAT and reaction.content["emoji"] == "👍"
    removed = await queue(db, arq_redis, limits, req("reaction", target=IN_ID, emoji=""), tenant_id)
    assert removed.content is not None and removed.content["emoji"] == ""
    edit = await queue(db, arq_redis, limits, req("edit", target=SENT_ID, text="Halo (diperbaiki)"), tenant_id)
    assert (edit.type, edit.body) == (MessageType.EDIT, "Halo (diperbaiki)")
    revoke = await queue(db, arq_redis, limits, req("revoke", target=SENT_ID), tenant_id)
    assert revoke.type == MessageType.REVOKE and revoke.content is not None and revoke.content["target_from_me"]
    forward = await queue(db, arq_redis, limits, req("forward", to="6285712345678", target=MEDIA_ID), tenant_id)
    assert (forward.type, forward.caption, forward.recipient) == (MessageType.IMAGE, "Foto", "6285712345678")
    assert forward.content == {"forwarded": True} and forward.media_id is not None
    assert await stored_bytes(db, limits, forward.media_id) == media_samples.jpeg()


REFUSALS: list[tuple[str, dict[str, Any], type[WAGateError], str]] = [
    ("unknown type", {"type": "carousel", "text": "x"}, Invalid, "type"),
    ("poll without options", {"type": "poll", "question": "Q?"}, Invalid, "options"),
    ("poll with one option", {"type": "poll", "question": "Q?", "options": ["a"]}, Invalid, "options"),
    ("poll with twin options", {"type": "poll", "question": "Q?", "options": ["Ya", "ya"]}, Invalid, "options"),
    ("poll choosing more than offered", {"type": "poll", "question": "Q?", "options": ["a", "b"], "selectable": 3},
     Invalid, "selectable"),
    ("contact without cards", {"type": "contact"}, Invalid, "contacts"),
    ("contact without a number", {"type": "contact", "contacts": [{"name": "Budi"}]}, Invalid, "contacts[0]"),
    ("reaction without emoji", {"type": "reaction", "target": IN_ID}, Invalid, "emoji"),
    ("reaction without target", {"type": "reaction", "emoji": "👍"}, Invalid, "target"),
    ("reaction to a missing message", {"type": "reaction", "target": "NOPE", "emoji": "👍"}, NotFound, "target"),
    ("reaction to another tenant's message", {"type": "reaction", "target": OTHER_ID, "emoji": "👍"}, NotFound,
     "target"),
    ("edit of a received message", {"type": "edit", "target": IN_ID, "text": "x"}, Unprocessable, "received"),
    ("edit past the 15 minutes", {"type": "edit", "target": OLD_ID, "text": "x"}, Conflict, "15 minutes"),
    ("edit of an image", {"type": "edit", "target": MEDIA_ID, "text": "x"}, Unprocessable, "text message"),
    ("edit without text", {"type": "edit", "target": SENT_ID}, Invalid, "text"),
    ("revoke of a received message", {"type": "revoke", "target": IN_ID}, Unprocessable, "received"),
    ("revoke in another chat", {"type": "revoke", "target": SENT_ID, "to": "6285700000000"}, Invalid, "to"),
    ("voice from a PDF", {"type": "voice", "media": PDF}, UnsupportedMediaType, "cannot be sent as a voice"),
    ("sticker from an executable", {"type": "sticker", "media": ELF}, UnsupportedMediaType, "executable"),
    ("voice without media", {"type": "voice"}, Invalid, "media"),
    ("media from a private address", {"type": "image", "media_url": "http://10.0.0.5/a.jpg"}, Invalid, "refused"),
    ("media of an unknown stored id", {"type": "image", "media_id": 999_999}, NotFound, "media_id"),
    ("oversized sticker", {"type": "sticker", "media": b"\x89PNG\r\n\x1a\n" + bytes(13 * 2**20)}, PayloadTooLarge,
     "12 MB"),
]


@pytest.mark.parametrize(("changes", "error", "mentions"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
async def test_a_refused_kind_writes_nothing(db: Any, arq_redis: ArqRedis, limits: Settings, tenant_id: int,
                                            changes: dict[str, Any], error: type[WAGateError], mentions: str) -> None:
    request = SendRequest(**{"session_id": SESSION, "to": PHONE, **changes})
    with pytest.raises(error) as raised:
        await sending.queue_message(db, arq_redis, limits, request, tenant_id=tenant_id)
    assert type(raised.value) is error
    assert mentions in raised.value.message or mentions in (raised.value.details or {})
    assert await _count(db) == 5  # the arranged rows only
    assert await arq_redis.keys("arq:*") == []
    assert [p.name for p in uploaded_files(limits)] == ["stored.jpg"]


async def _count(db: Any) -> int:
    from sqlalchemy import func, select

    async with db() as s:
        return int(await s.scalar(select(func.count()).select_from(Message)) or 0)
