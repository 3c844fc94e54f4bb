"""The media store against a real S3 server (SeaweedFS) and the local folder, on SQLite and MariaDB: one copy per
content, streaming in and out, presigned URLs that expire, a store outage that loses nothing, retention, migration.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from tests.fixtures import make_settings
from tests.seaweedfs import SeaweedS3Process
from tests.services.conftest import Rows
from wagate.bridge.outgoing_media import MediumUnreachable, media_bytes
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, MessageType
from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.errors import PayloadTooLarge, UnsupportedMediaType
from wagate.services.media import upkeep
from wagate.services.media.keeping import chunks_of, keep
from wagate.services.media.migration import migrate_to_store
from wagate.services.media.s3_store import S3Store
from wagate.services.media.store import CHUNK, MediaStores, key_of, media_stores
from wagate.services.messaging import media as media_files

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(300)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + os.urandom(100)


def box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def video(size: int) -> bytes:
    """An MP4 of `size` bytes: ftyp, a moov with one video track, then the sample data."""
    track = box(b"trak", box(b"mdia", box(b"mdhd", bytes(24)) + box(b"hdlr", bytes(8) + b"vide" + bytes(12))))
    head = box(b"ftyp", b"isom" + bytes(4) + b"isomavc1") + box(b"moov", box(b"mvhd", bytes(100)) + track)
    return head + box(b"mdat", os.urandom(size - len(head) - 8))


async def in_pieces(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


@pytest.fixture
def s3_settings(tmp_path: Path, database_url: str, redis_url: str, seaweedfs: SeaweedS3Process) -> Settings:
    """MEDIA_STORE=s3 on the session's SeaweedFS: one bucket (SeaweedFS gives each its own volumes), a prefix of the
    test's own."""
    settings = make_settings(
        tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, MEDIA_STORE="s3",
        MEDIA_S3_ENDPOINT=seaweedfs.endpoint, MEDIA_S3_BUCKET="wagate-media",
        MEDIA_S3_PREFIX=f"t{uuid.uuid4().hex[:12]}", MEDIA_S3_ACCESS_KEY=seaweedfs.access_key,
        MEDIA_S3_SECRET_KEY=seaweedfs.secret_key, MEDIA_S3_PRESIGN_S="2")
    return settings


@pytest.fixture
async def stores(s3_settings: Settings) -> MediaStores:
    found = media_stores(s3_settings)
    assert isinstance(found.primary, S3Store)
    await found.primary.ensure_bucket()
    return found


async def objects(store: S3Store) -> list[str]:
    """The keys under the test's prefix, without it."""
    async with store._client() as client:
        answer = await client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
    return [item["Key"].removeprefix(store.prefix) for item in answer.get("Contents", [])]


async def read_all(stores: MediaStores, medium: Medium) -> bytes:
    parts = [chunk async for chunk in stores.at(medium.location).read(key_of(medium.sha256))]
    assert all(len(part) <= CHUNK for part in parts)
    return b"".join(parts)


async def medium(db: Any, medium_id: int) -> Medium:
    async with db() as s:
        found = await s.get(Medium, medium_id)
    assert found is not None
    return found


async def test_a_medium_kept_twice_is_stored_once_under_its_hash(db: Any, s3_settings: Settings,
                                                                 stores: MediaStores) -> None:
    first = await keep(db, s3_settings, stores, chunks_of(PNG), file_name="foto.jpg")
    again = await keep(db, s3_settings, stores, chunks_of(PNG), file_name="lain.png")

    assert (first.new, again.new, again.medium_id) == (True, False, first.medium_id)
    assert (first.kind.mimetype, first.file_name, first.location) == ("image/png", "foto.png", "s3")
    digest = hashlib.sha256(PNG).hexdigest()
    assert await objects(stores.primary) == [f"{digest[:2]}/{digest}"]  # type: ignore[arg-type]
    assert await read_all(stores, await medium(db, first.medium_id)) == PNG
    assert not any((s3_settings.upload_dir / "incoming").iterdir())  # no temporary file left


async def test_a_10_mb_video_goes_in_and_out_in_chunks(db: Any, s3_settings: Settings, stores: MediaStores) -> None:
    clip = video(10 * 1024 * 1024)
    kept = await keep(db, s3_settings, stores, in_pieces(clip), file_name="rapat.mp4")

    assert (kept.kind.mimetype, kept.size, kept.sha256) == ("video/mp4", len(clip), hashlib.sha256(clip).hexdigest())
    assert await read_all(stores, await medium(db, kept.medium_id)) == clip


async def test_a_presigned_url_serves_the_bytes_then_expires(db: Any, s3_settings: Settings,
                                                             stores: MediaStores) -> None:
    kept = await keep(db, s3_settings, stores, chunks_of(PNG), file_name="denah.png")
    url = await stores.primary.direct_url(key_of(kept.sha256), "image/png", "denah.png")
    assert url is not None and "X-Amz-Signature=" in url

    async with aiohttp.ClientSession() as http:
        async with http.get(url) as answer:
            assert (answer.status, answer.content_type, await answer.read()) == (200, "image/png", PNG)
        await asyncio.sleep(3.5)  # MEDIA_S3_PRESIGN_S=2
        async with http.get(url) as answer:
            assert answer.status == 403


async def test_a_store_stopped_mid_run_loses_nothing(db: Any, rows: Rows, s3_settings: Settings, stores: MediaStores,
                                                     seaweedfs: SeaweedS3Process) -> None:
    before = await keep(db, s3_settings, stores, chunks_of(PNG), file_name="a.png")
    during_bytes = video(300 * 1024)
    await rows.session()
    seaweedfs.stop()
    try:
        during = await keep(db, s3_settings, stores, chunks_of(during_bytes), file_name="b.mp4")
        assert during.location == "local"  # kept, to be moved later
        health = await upkeep.store_health(db, stores)
        assert (health.status, health.waiting) == ("down", 1) and health.reason
        # A send of the medium kept locally goes on; one whose medium is in the store waits for it.
        queued = Message(session_id="sales-1", direction=Direction.OUTBOUND, type=MessageType.IMAGE,
                         media_id=before.medium_id, status=MessageStatus.QUEUED)
        assert await media_bytes(db, stores, Message(media_id=during.medium_id)) == during_bytes
        with pytest.raises(MediumUnreachable):
            await media_bytes(db, stores, queued)
        assert await upkeep.move_waiting(db, stores) == 0
    finally:
        seaweedfs.start()

    assert await upkeep.move_waiting(db, stores) == 1
    moved = await medium(db, during.medium_id)
    assert moved.location == "s3" and not stores.local.path_of(key_of(moved.sha256)).exists()  # type: ignore[attr-defined]
    assert await read_all(stores, moved) == during_bytes
    assert await read_all(stores, await medium(db, before.medium_id)) == PNG
    assert (await upkeep.store_health(db, stores)).as_dict() == {"store": "s3", "status": "ok", "waiting": 0,
                                                                 "reason": None}


async def test_oversized_and_mislabelled_media_are_refused_leaving_nothing(
        db: Any, tmp_path: Path, s3_settings: Settings, stores: MediaStores) -> None:
    small = s3_settings.replace(max_upload_mb=1)
    with pytest.raises(PayloadTooLarge):
        await keep(db, small, stores, in_pieces(video(2 * 1024 * 1024)), file_name="besar.mp4")
    with pytest.raises(UnsupportedMediaType) as refused:
        await keep(db, s3_settings, stores, chunks_of(ELF), file_name="foto.jpg")
    assert "executable" in refused.value.message

    def as_video(kind: media_files.MediaKind) -> None:
        media_files.check_upload(PNG, "x", MessageType.VIDEO, s3_settings)

    with pytest.raises(UnsupportedMediaType):  # a PNG claimed to be a video
        await keep(db, s3_settings, stores, chunks_of(PNG), file_name="video.mp4", accept=as_video)
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Medium)) == 0
    assert await objects(stores.primary) == []  # type: ignore[arg-type]
    assert not any((s3_settings.upload_dir / "incoming").iterdir())


async def test_retention_removes_unused_media_and_keeps_those_of_pending_sends(
        db: Any, rows: Rows, s3_settings: Settings, stores: MediaStores) -> None:
    await rows.session()
    queued = await keep(db, s3_settings, stores, chunks_of(PNG), file_name="a.png")
    old = await keep(db, s3_settings, stores, chunks_of(video(64 * 1024)), file_name="b.mp4")
    async with db() as s, s.begin():
        s.add_all([
            Message(session_id="sales-1", direction=Direction.OUTBOUND, type=MessageType.IMAGE,
                    media_id=queued.medium_id, status=MessageStatus.QUEUED),
            Message(session_id="sales-1", direction=Direction.INBOUND, type=MessageType.VIDEO,
                    media_id=old.medium_id, status=MessageStatus.DELIVERED)])

    later = utcnow() + upkeep.UNUSED_GRACE * 2
    assert await upkeep.remove_expired(db, stores, 0, now=later) == 0  # used, and kept for good
    from datetime import timedelta
    assert await upkeep.remove_expired(db, stores, 30, now=utcnow() + timedelta(days=31)) == 1

    [pending, received] = await rows.messages()
    assert (pending.media_id, received.media_id) == (queued.medium_id, None)
    digest = hashlib.sha256(PNG).hexdigest()
    assert await objects(stores.primary) == [f"{digest[:2]}/{digest}"]  # type: ignore[arg-type]


async def test_migrate_moves_local_media_and_older_files_resumably(
        db: Any, rows: Rows, tmp_path: Path, s3_settings: Settings, stores: MediaStores) -> None:
    await rows.session()
    local_settings = s3_settings.replace(media_store="local")
    local = media_stores(local_settings)
    kept_locally = await keep(db, local_settings, local, chunks_of(PNG), file_name="a.png")
    older = tmp_path / "uploads" / "media" / "2026" / "11" / "lama.mp4"
    older.parent.mkdir(parents=True)
    older_bytes = video(128 * 1024)
    older.write_bytes(older_bytes)
    async with db() as s, s.begin():
        s.add(Message(session_id="sales-1", direction=Direction.OUTBOUND, type=MessageType.VIDEO,
                      media_path=str(older), media_mime="video/mp4", status=MessageStatus.SENT))
    seen: list[tuple[int, int]] = []

    result = await migrate_to_store(db, s3_settings, stores, lambda done, total: seen.append((done, total)))

    assert (result.moved, result.missing, seen[0], seen[-1]) == (2, [], (0, 2), (2, 2))
    assert not older.exists()
    [message] = await rows.messages()
    assert message.media_path is None and message.media_id is not None
    assert await read_all(stores, await medium(db, message.media_id)) == older_bytes
    assert (await medium(db, kept_locally.medium_id)).location == "s3"
    again = await migrate_to_store(db, s3_settings, stores, lambda done, total: None)
    assert again.moved == 0
