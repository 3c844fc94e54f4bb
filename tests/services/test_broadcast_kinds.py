"""Broadcasts of any message kind on real SQLite, MariaDB and Valkey: checked like a send of the kind, the medium
converted once, and every recipient's message carrying the kind's fields (the template filled where it is text)."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import media_samples
from tests.services.conftest import Rows
from tests.services.stored_media import stored_bytes
from tests.services.test_broadcasts import broadcast_messages, create, request
from tests.services.test_media import PDF
from wagate.config import Settings
from wagate.db.enums import MessageType
from wagate.db.models_delivery import Broadcast
from wagate.errors import Invalid, UnsupportedMediaType
from wagate.services.broadcasts.progress import expand_chunk


async def test_a_poll_broadcast_sends_the_same_poll_to_everyone(db: async_sessionmaker[AsyncSession],
                                                                arq_redis: ArqRedis, settings: Settings,
                                                                rows: Rows) -> None:
    await rows.session()
    broadcast = await create(db, arq_redis, settings, request(3, template="Halo {name}", kind="poll", fields={
        "question": "Datang jam berapa?", "options": ["09.00", "13.00"], "selectable": 1}))
    assert (broadcast.message_type, broadcast.content) == ("poll", {
        "question": "Datang jam berapa?", "options": ["09.00", "13.00"], "selectable": 1})
    await expand_chunk(db, arq_redis, settings, broadcast.id)
    messages = await broadcast_messages(db, broadcast.id)
    assert [(m.type, m.body, m.content) for m in messages] == [
        (MessageType.POLL, "Datang jam berapa?", broadcast.content)] * 3


async def test_a_voice_note_broadcast_is_converted_once(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
                                                        settings: Settings, rows: Rows) -> None:
    await rows.session()
    broadcast = await create(db, arq_redis, settings, request(2, template="Halo {name}", kind="voice",
                                                              media=media_samples.mp3(2), file_name="pesan.mp3"))
    assert broadcast.media_mime == "audio/ogg; codecs=opus" and broadcast.content == {"ptt": True, "seconds": 2}
    assert (await stored_bytes(db, settings, broadcast.media_id))[:4] == b"OggS"
    await expand_chunk(db, arq_redis, settings, broadcast.id)
    messages = await broadcast_messages(db, broadcast.id)
    assert [(m.type, m.caption, m.media_id, (m.content or {}).get("ptt")) for m in messages] == [
        (MessageType.AUDIO, None, broadcast.media_id, True)] * 2  # one copy for every recipient


async def test_contact_cards_and_a_captioned_image(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
                                                   settings: Settings, rows: Rows) -> None:
    await rows.session()
    cards = await create(db, arq_redis, settings, request(2, template="Kontak kami", kind="contact", fields={
        "contacts": [{"name": "CS Toko", "phone": "+62 811-0000-1111"}]}))
    image = await create(db, arq_redis, settings, request(2, template="Promo untuk {name}", kind="image",
                                                          media=media_samples.jpeg(), file_name="promo.jpg"))
    for broadcast in (cards, image):
        await expand_chunk(db, arq_redis, settings, broadcast.id)
    [first, _] = await broadcast_messages(db, cards.id)
    assert first.type == MessageType.CONTACT and first.body is None
    assert "waid=6281100001111" in (first.content or {})["contacts"][0]["vcard"]
    pictures = await broadcast_messages(db, image.id)
    assert [m.caption for m in pictures] == ["Promo untuk Orang 0", "Promo untuk Orang 1"]
    assert all((m.content or {}).get("width") == 640 and (m.content or {}).get("thumbnail") for m in pictures)


@pytest.mark.parametrize(("kind", "fields", "media", "error", "field"), [
    ("reaction", {}, None, Invalid, "type"),
    ("poll", {"question": "Q?", "options": ["a"]}, None, Invalid, "options"),
    ("contact", {}, None, Invalid, "contacts"),
    ("location", {"latitude": 91.0, "longitude": 0.0}, None, Invalid, "latitude"),
    ("sticker", {}, PDF, UnsupportedMediaType, "type"),
    ("voice", {}, None, Invalid, "media"),
])
async def test_a_refused_kind_writes_no_broadcast(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
                                                  settings: Settings, rows: Rows, kind: str, fields: dict[str, object],
                                                  media: bytes | None, error: type[Exception], field: str) -> None:
    await rows.session()
    with pytest.raises(error) as raised:
        await create(db, arq_redis, settings, request(2, kind=kind, fields=fields, media=media))
    assert field in (getattr(raised.value, "details", None) or {})
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Broadcast)) == 0
