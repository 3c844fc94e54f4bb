"""Every message kind sent through the real bridge (arq worker on the real Valkey, SQLite and MariaDB, the
simulator's phone recording what it got), with its `message.sent` event; edits and revokes change their target."""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import media_samples
from tests.bridge.conftest import (
    EventLog,
    RunningBridge,
    add_session,
    get_message,
    link_session,
    sent_by,
    until,
    wait_message,
)
from wagate.config import Settings
from wagate.db.enums import MessageStatus, MessageType
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.transport.simulator import SentMessage

TO = "6285712345678"
TO_JID = f"{TO}@s.whatsapp.net"
DONE = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


async def _send(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, kind: str,
                **fields: Any) -> int:
    fields.setdefault("to", TO)
    queued = await queue_message(db, redis, settings, SendRequest(session_id="k1", type=kind, **fields))
    assert queued.created
    await wait_message(db, queued.message.id, *DONE, timeout=20)
    return queued.message.id


def _received(running: RunningBridge, message_id: str) -> SentMessage:
    [sent] = [s for s in sent_by(running.sim, "k1") if s.message_id == message_id]
    return sent


async def test_every_kind_reaches_the_phone_with_its_fields_and_event(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "k1")
    await link_session(running, db, arq_redis, settings, "k1")
    sends = {
        "text": await _send(db, arq_redis, settings, "text", text="Halo @6281234567890, lihat https://example.com",
                            link_preview={"title": "Contoh", "description": "Situs contoh"}),
        "image": await _send(db, arq_redis, settings, "image", media=media_samples.jpeg(), caption="Foto"),
        "video": await _send(db, arq_redis, settings, "video", media=media_samples.big_mp4(), caption="10 MB"),
        "gif": await _send(db, arq_redis, settings, "gif", media=media_samples.mp4(1)),
        "voice": await _send(db, arq_redis, settings, "voice", media=media_samples.mp3(2)),
        "audio": await _send(db, arq_redis, settings, "audio", media=media_samples.mp3(2)),
        "sticker": await _send(db, arq_redis, settings, "sticker", media=media_samples.png()),
        "document": await _send(db, arq_redis, settings, "document", media=media_samples.pdf(2), file_name="a.pdf"),
        "live_location": await _send(db, arq_redis, settings, "live_location", latitude=-6.2, longitude=106.8,
                                     caption="Kurir"),
        "contact": await _send(db, arq_redis, settings, "contact",
                               contacts=[{"name": "Budi", "phone": "6281211112222"}]),
        "poll": await _send(db, arq_redis, settings, "poll", question="Rapat jam?", options=["09.00", "13.00"],
                            selectable=1),
    }
    rows = {kind: await get_message(db, mid) for kind, mid in sends.items()}
    got = {kind: _received(running, row.wa_message_id or "") for kind, row in rows.items()}
    assert {kind: s.kind for kind, s in got.items()} == {
        "text": "text", "image": "image", "video": "video", "gif": "gif", "voice": "voice", "audio": "audio",
        "sticker": "sticker", "document": "document", "live_location": "live_location", "contact": "contact",
        "poll": "poll"}
    assert all(s.to == TO_JID for s in got.values())

    text = got["text"].content or {}
    assert text["mentions"] == ["6281234567890@s.whatsapp.net"]
    assert text["preview"] == {"url": "https://example.com", "title": "Contoh", "description": "Situs contoh",
                               "thumbnail_bytes": 0}
    video = got["video"]
    assert video.media is not None and video.media.size == len(media_samples.big_mp4()) > 10 * 2**20
    assert (video.content or {})["thumbnail_bytes"] > 0 and (video.content or {})["width"] == 640
    assert (got["gif"].content or {})["gif_playback"] is True
    voice = got["voice"]
    assert voice.media is not None and voice.media.mimetype == "audio/ogg; codecs=opus"
    assert (voice.content or {})["ptt"] is True and (voice.content or {})["seconds"] == 2
    assert (got["audio"].content or {})["ptt"] is False
    assert got["sticker"].media is not None and got["sticker"].media.mimetype == "image/webp"
    assert (got["document"].content or {})["page_count"] == 2 and got["document"].media is not None
    assert got["document"].media.filename == "a.pdf"
    assert got["live_location"].location == (-6.2, 106.8) and (got["live_location"].content or {})["live"] is True
    assert "waid=6281211112222" in (got["contact"].content or {})["contacts"][0]["vcard"]
    assert (got["poll"].text, (got["poll"].content or {})["options"]) == ("Rapat jam?", ["09.00", "13.00"])

    await event_log.wait_for(lambda e: e["event"] == "message.sent" and e["data"]["id"] == sends["poll"])
    types = {e["data"]["id"]: e["data"]["type"] for e in event_log.items if e["event"] == "message.sent"}
    assert {kind: types[mid] for kind, mid in sends.items()} == {kind: str(row.type) for kind, row in rows.items()}
    assert types[sends["voice"]] == "audio" and types[sends["poll"]] == "poll"


async def test_reaction_edit_revoke_and_forward_act_on_a_sent_message(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "k1")
    await link_session(running, db, arq_redis, settings, "k1")
    original = await get_message(db, await _send(db, arq_redis, settings, "text", text="Rapat jam 9"))
    target = original.wa_message_id or ""

    reaction = await _send(db, arq_redis, settings, "reaction", to=None, target=target, emoji="👍")
    forward = await _send(db, arq_redis, settings, "forward", to="6281300000000", target=target)
    edit = await _send(db, arq_redis, settings, "edit", to=None, target=target, text="Rapat jam 10")
    revoke = await _send(db, arq_redis, settings, "revoke", to=None, target=target)

    on_phone = {kind: _received(running, (await get_message(db, mid)).wa_message_id or "")
                for kind, mid in (("reaction", reaction), ("edit", edit), ("forward", forward), ("revoke", revoke))}
    assert [s.kind for s in on_phone.values()] == ["reaction", "edit", "text", "revoke"]
    for kind in ("reaction", "edit", "revoke"):
        assert on_phone[kind].to == TO_JID
        assert (on_phone[kind].content or {})["target"] == {"message_id": target, "chat": TO_JID, "from_me": True,
                                                            "sender": original.sender_jid}
    assert (on_phone["reaction"].text, on_phone["edit"].text) == ("👍", "Rapat jam 10")
    assert on_phone["forward"].to == "6281300000000@s.whatsapp.net" and on_phone["forward"].text == "Rapat jam 9"
    assert (on_phone["forward"].content or {})["forwarded"] is True

    async def revoked() -> bool:
        return bool(((await get_message(db, original.id)).content or {}).get("revoked_at"))

    await until(revoked, what="the revoke noted on its target")  # written right after the revoke's `sent`
    changed = await get_message(db, original.id)
    assert changed.body == "Rapat jam 10" and changed.type == MessageType.TEXT
    assert (changed.content or {})["original_text"] == "Rapat jam 9"
    assert (changed.content or {}).get("edited_at") and (changed.content or {}).get("revoked_at")
    await event_log.wait_for(lambda e: e["event"] == "message.sent" and e["data"]["id"] == revoke)
