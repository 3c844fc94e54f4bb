"""`GET /api/media/{message id}` over real HTTP: a kept medium served only to a caller of the message's tenant or the
holder of a signed link that has not expired, streamed from the local store or redirected to a presigned S3 URL."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.fixtures import make_settings
from tests.seaweedfs import SeaweedS3Process
from tests.web.api_rows import Db, Rows
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, MessageType, Role, SessionStatus
from wagate.db.models_whatsapp import Message
from wagate.services.media import links
from wagate.services.media.keeping import chunks_of, keep
from wagate.services.media.s3_store import S3Store
from wagate.services.media.store import media_stores
from wagate.web.app import create_app

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(5000)


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


async def received_image(db: Db, settings: Settings, session_id: str) -> int:
    """An incoming image whose medium the bridge downloaded: the message row pointing at its kept medium."""
    kept = await keep(db, settings, media_stores(settings), chunks_of(PNG), file_name="foto.jpg")
    message = Message(session_id=session_id, direction=Direction.INBOUND, type=MessageType.IMAGE,
                      wa_message_id=f"3EB0{uuid.uuid4().hex[:12].upper()}", status=MessageStatus.DELIVERED,
                      media_id=kept.medium_id, media_mime="image/png", media_name=kept.file_name,
                      media_source={"directPath": "/v/t62.7118-24/secret", "mediaKey": "c2VjcmV0"})
    async with db() as s, s.begin():
        s.add(message)
    return message.id


async def test_a_downloaded_medium_is_served_only_to_a_caller_of_its_tenant(client: TestClient, rows: Rows,
                                                                           db: Db, settings: Settings) -> None:
    ours, theirs = await rows.tenant("usr_ours"), await rows.tenant("usr_theirs")
    await rows.session("toko-1", tenant_id=ours)
    message_id = await received_image(db, settings, "toko-1")

    answer = await client.get(f"/api/media/{message_id}", headers=await rows.key(Role.USER, tenant_id=ours))
    assert answer.status == 200, await answer.text()
    assert (answer.content_type, answer.headers["X-Content-Type-Options"]) == ("image/png", "nosniff")
    assert answer.headers["Content-Disposition"] == "inline; filename*=UTF-8''foto.png"
    assert await answer.read() == PNG
    admin = await client.get(f"/api/media/{message_id}", headers=await rows.key(Role.ADMIN))
    assert admin.status == 200

    other = await client.get(f"/api/media/{message_id}", headers=await rows.key(Role.ADMIN, tenant_id=theirs))
    assert other.status == 404
    assert (await other.json())["message"] == "Message not found"
    missing = await client.get("/api/media/999999", headers=await rows.key(Role.USER, tenant_id=ours))
    assert (await missing.json()) == (await other.json())  # another tenant's id tells nothing
    assert (await client.get(f"/api/media/{message_id}")).status == 401


async def test_a_signed_link_needs_no_key_until_it_expires(client: TestClient, rows: Rows, db: Db,
                                                           settings: Settings) -> None:
    await rows.session("toko-1")
    message_id = await received_image(db, settings, "toko-1")
    url = links.signed_url(settings, message_id)
    assert url.startswith(f"/api/media/{message_id}?exp=")

    answer = await client.get(url)
    assert answer.status == 200 and await answer.read() == PNG
    # The dashboard asks for such a link with its own credentials, to open the file in a new tab.
    listed = await client.get(f"/api/messages/{message_id}", headers=await rows.key())
    assert (await listed.json())["data"]["media"]["url"] == f"/api/media/{message_id}"
    link = await client.get(f"/api/media/{message_id}?as=link", headers=await rows.key())
    data = (await link.json())["data"]
    assert data["mimetype"] == "image/png" and data["url"].startswith(f"/api/media/{message_id}?exp=")
    assert await (await client.get(data["url"])).read() == PNG
    tampered = await client.get(url[:-4] + ("0000" if not url.endswith("0000") else "1111"))
    assert tampered.status == 403
    other_message = await client.get(url.replace(f"/api/media/{message_id}", f"/api/media/{message_id + 1}"))
    assert other_message.status == 403
    expired = links.signed_url(settings, message_id, now=time.time() - settings.media_url_ttl_s - 1)
    refused = await client.get(expired)
    assert refused.status == 403
    body = await refused.json()
    assert body["success"] is False and "expired" in body["message"]


async def test_a_message_without_a_medium_is_404(client: TestClient, rows: Rows, db: Db) -> None:
    await rows.session("toko-1")
    message = Message(session_id="toko-1", direction=Direction.INBOUND, type=MessageType.TEXT, body="halo",
                      status=MessageStatus.DELIVERED)
    await rows.add(message)
    answer = await client.get(f"/api/media/{message.id}", headers=await rows.key())
    assert answer.status == 404 and (await answer.json())["message"] == "This message has no medium"


async def test_a_medium_downloaded_on_request_needs_its_session_connected(client: TestClient, rows: Rows) -> None:
    await rows.session("toko-1", status=SessionStatus.STOPPED)
    message = Message(session_id="toko-1", direction=Direction.INBOUND, type=MessageType.IMAGE,
                      status=MessageStatus.DELIVERED, media_mime="image/jpeg",
                      media_source={"directPath": "/v/t62.7118-24/x", "mediaKey": "c2VjcmV0"})
    await rows.add(message)
    answer = await client.get(f"/api/media/{message.id}", headers=await rows.key())
    assert answer.status == 409
    body = await answer.json()
    assert "connect it first" in body["message"] and body["details"] == {"status": ["STOPPED"]}


async def test_with_s3_the_answer_is_a_redirect_to_a_presigned_url(aiohttp_client: Any, tmp_path: Path,
                                                                   database_url: str, redis_url: str, db: Db,
                                                                   rows: Rows, seaweedfs: SeaweedS3Process) -> None:
    settings = make_settings(
        tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, MEDIA_STORE="s3",
        MEDIA_S3_ENDPOINT=seaweedfs.endpoint, MEDIA_S3_BUCKET="wagate-media", MEDIA_S3_PREFIX=uuid.uuid4().hex[:12],
        MEDIA_S3_ACCESS_KEY=seaweedfs.access_key, MEDIA_S3_SECRET_KEY=seaweedfs.secret_key)
    await S3Store.from_settings(settings).ensure_bucket()
    client = await aiohttp_client(create_app(settings))
    await rows.session("toko-1")
    message_id = await received_image(db, settings, "toko-1")

    answer = await client.get(f"/api/media/{message_id}", headers=await rows.key(), allow_redirects=False)
    assert answer.status == 302
    location = answer.headers["Location"]
    assert location.startswith(seaweedfs.endpoint) and "X-Amz-Expires=3600" in location
    async with aiohttp.ClientSession() as http, http.get(location) as stored:
        assert (stored.status, stored.content_type, await stored.read()) == (200, "image/png", PNG)
