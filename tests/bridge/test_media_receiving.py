"""Media through the real bridge, arq and Redis, with the media store on a real S3 server (SeaweedFS): a medium sent
and one received end to end, downloaded on arrival or on the first request, a 10 MB video in and out, and received
media the gateway refuses (too large, not what they claim) kept out with the reason on the message."""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, get_message, link_session, sent_by, until
from tests.seaweedfs import SeaweedS3Process
from wagate.config import Settings
from wagate.db.enums import MessageStatus
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.services.identity.credentials import new_api_key
from wagate.services.media.s3_store import S3Store
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.web.app import create_app

FROM = "6285611112222"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(4000)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + os.urandom(100)


def video(size: int) -> bytes:
    def box(kind: bytes, body: bytes = b"") -> bytes:
        return struct.pack(">I", 8 + len(body)) + kind + body

    track = box(b"trak", box(b"mdia", box(b"mdhd", bytes(24)) + box(b"hdlr", bytes(8) + b"vide" + bytes(12))))
    head = box(b"ftyp", b"isom" + bytes(4) + b"isomavc1") + box(b"moov", box(b"mvhd", bytes(100)) + track)
    return head + box(b"mdat", os.urandom(size - len(head) - 8))


@pytest.fixture
def bridge_env(seaweedfs: SeaweedS3Process) -> dict[str, str]:
    return {"MEDIA_STORE": "s3", "MEDIA_S3_ENDPOINT": seaweedfs.endpoint, "MEDIA_S3_BUCKET": "wagate-media",
            "MEDIA_S3_PREFIX": uuid.uuid4().hex[:12], "MEDIA_S3_ACCESS_KEY": seaweedfs.access_key,
            "MEDIA_S3_SECRET_KEY": seaweedfs.secret_key, "PUBLIC_URL": "http://gateway.test"}


@pytest.fixture
async def web(aiohttp_client: Any, settings: Settings) -> TestClient:
    await S3Store.from_settings(settings).ensure_bucket()
    client: TestClient = await aiohttp_client(create_app(settings))
    return client


async def api_key(db: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    from wagate.db.enums import Role
    from wagate.db.models_identity import ApiKey

    key = new_api_key()
    async with db() as s, s.begin():
        s.add(ApiKey(name="media test", key_hash=key.hash, prefix=key.prefix, role=Role.OPERATOR))
    return {"x-api-key": key.plaintext}


async def received(db: async_sessionmaker[AsyncSession], event_log: EventLog, wa_message_id: str) -> dict[str, Any]:
    return await event_log.wait_for(lambda e: e["event"] == "message.received"
                                    and e["data"]["messageId"] == wa_message_id)


async def kept(db: async_sessionmaker[AsyncSession], message_id: int) -> Message:
    async def downloaded() -> bool:
        row = await get_message(db, message_id)
        return row.media_id is not None or row.error is not None

    await until(downloaded, timeout=30, what="the medium downloaded (or refused)")
    return await get_message(db, message_id)


async def test_a_10_mb_video_received_is_kept_on_arrival_and_served_by_its_signed_link(
        running: RunningBridge, web: TestClient, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
        settings: Settings, event_log: EventLog) -> None:
    await add_session(db, "m1")
    await link_session(running, db, arq_redis, settings, "m1")
    clip = video(10 * 1024 * 1024)
    sent = await running.sim.inject_media("m1", FROM, clip, kind="video", mimetype="video/mp4",
                                          filename="rapat.mp4", caption="Rekaman rapat")

    event = await received(db, event_log, sent.message_id)
    media = event["data"]["media"]
    assert media["kind"] == "video" and media["size"] == len(clip) and "handle" not in media
    assert "simulator" not in str(event)  # the download handle stays server-side
    message = await kept(db, event["data"]["id"])
    assert message.error is None and message.media_mime == "video/mp4"

    url = media["url"]
    assert url.startswith(f"http://gateway.test/api/media/{message.id}?exp=")
    answer = await web.get(url.removeprefix("http://gateway.test"), allow_redirects=False)
    assert answer.status == 302  # to the presigned URL of the object store
    async with aiohttp.ClientSession() as http, http.get(answer.headers["Location"]) as stored:
        body = await stored.read()
    assert stored.status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(clip).digest()


async def test_a_medium_sent_goes_through_the_store_to_the_phone(
        running: RunningBridge, web: TestClient, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
        settings: Settings) -> None:
    await add_session(db, "m2")
    await link_session(running, db, arq_redis, settings, "m2")
    queued = await queue_message(db, arq_redis, settings, SendRequest(
        session_id="m2", to=FROM, type="image", media=PNG, file_name="denah.png", caption="Denah"))

    async def sent() -> bool:
        return (await get_message(db, queued.message.id)).status in (MessageStatus.SENT, MessageStatus.DELIVERED,
                                                                    MessageStatus.READ)

    await until(sent, timeout=20, what="the image sent")
    [out] = sent_by(running.sim, "m2")
    assert out.media is not None and out.media.download is not None
    phone_got = b"".join([chunk async for chunk in running.sim.download_media("m2", out.media.download)])
    assert phone_got == PNG  # what the phone downloads is what was uploaded, read back from the store


async def test_on_request_the_first_get_downloads_the_medium(
        running: RunningBridge, web: TestClient, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
        settings: Settings, event_log: EventLog) -> None:
    await add_session(db, "m3")
    async with db() as s, s.begin():
        await s.execute(update(WaSession).where(WaSession.id == "m3").values(settings={"media_download": "on_request"}))
    await link_session(running, db, arq_redis, settings, "m3")
    sent = await running.sim.inject_media("m3", FROM, PNG, kind="image", mimetype="image/png", filename="a.png")
    event = await received(db, event_log, sent.message_id)
    message_id = event["data"]["id"]
    assert (await get_message(db, message_id)).media_id is None  # not fetched on arrival

    answer = await web.get(f"/api/media/{message_id}", headers=await api_key(db), allow_redirects=False)
    assert answer.status == 302, await answer.text()
    assert (await get_message(db, message_id)).media_id is not None


@pytest.mark.parametrize(("data", "mimetype", "why"), [
    (ELF, "image/jpeg", "executable"),  # claims to be a photo
    (video(3 * 1024 * 1024), "video/mp4", "MB limit"),  # MAX_UPLOAD_MB=2 below
])
async def test_a_received_medium_the_gateway_refuses_is_not_kept_and_says_why(
        running: RunningBridge, web: TestClient, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
        settings: Settings, event_log: EventLog, data: bytes, mimetype: str, why: str) -> None:
    running.bridge.settings = running.bridge.downloads.settings = settings.replace(max_upload_mb=2)
    await add_session(db, "m4")
    await link_session(running, db, arq_redis, settings, "m4")
    sent = await running.sim.inject_media("m4", FROM, data, kind="image", mimetype=mimetype, filename="foto.jpg")
    event = await received(db, event_log, sent.message_id)
    message_id = event["data"]["id"]

    message = await kept(db, message_id)
    assert message.media_id is None and message.error is not None and why in message.error
    incoming = settings.upload_dir / "incoming"
    assert not incoming.exists() or not any(incoming.iterdir())


async def test_a_send_whose_medium_the_stopped_store_holds_waits_and_goes_once_it_is_back(
        running: RunningBridge, web: TestClient, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
        settings: Settings, seaweedfs: SeaweedS3Process) -> None:
    await add_session(db, "m5")
    await link_session(running, db, arq_redis, settings, "m5")
    # Kept in the store while it is up, due a moment later: the store stops in between.
    queued = (await queue_message(db, arq_redis, settings, SendRequest(
        session_id="m5", to=FROM, type="image", media=PNG, file_name="denah.png",
        send_at=utcnow() + timedelta(seconds=3)))).message.id
    seaweedfs.stop()
    try:
        async def put_back() -> bool:
            row = await get_message(db, queued)
            return row.error is not None and "media store" in row.error

        await until(put_back, timeout=40, what="the send put back while the store is down")
        row = await get_message(db, queued)
        assert row.status == MessageStatus.QUEUED and row.attempts == 0  # waiting, no attempt used up
        health = await (await web.get("/api/health")).json()
        assert health["status"] == "degraded" and health["media_store"]["status"] == "down"
    finally:
        seaweedfs.start()

    async def sent() -> bool:
        return (await get_message(db, queued)).status in (MessageStatus.SENT, MessageStatus.DELIVERED,
                                                          MessageStatus.READ)

    await until(sent, timeout=40, what="the send once the store is back")
    [out] = sent_by(running.sim, "m5")
    assert out.media is not None and out.media.download is not None
    assert b"".join([chunk async for chunk in running.sim.download_media("m5", out.media.download)]) == PNG
    assert (await (await web.get("/api/health")).json())["media_store"]["status"] == "ok"
