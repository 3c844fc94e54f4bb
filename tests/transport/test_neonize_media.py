"""Received media with neonize: the download handle read from neonize's real protobuf types, and the download
through neonize's real client down to the whatsmeow double (`DownloadMediaWithPath`)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from tests.transport.test_neonize import Events
from tests.transport.test_neonize_core import linked
from tests.transport.test_neonize_events import PHONE, jid, message_event
from tests.transport.whatsmeow_double import WhatsmeowDouble
from wagate.errors import SessionNotConnected, TransportError
from wagate.transport.neonize import NeonizeTransport, incoming

VIDEO = os.urandom(600 * 1024)
KEY = os.urandom(32)
PATH = "/v/t62.7161-24/12345_67890.enc?ccb=11-4"


def video_message() -> e2e.Message:
    return e2e.Message(videoMessage=e2e.VideoMessage(
        mimetype="video/mp4", fileLength=len(VIDEO), caption="rapat", directPath=PATH, mediaKey=KEY,
        fileSHA256=hashlib.sha256(VIDEO).digest(), fileEncSHA256=hashlib.sha256(b"enc" + VIDEO).digest()))


@pytest.fixture
async def transport(tmp_path: Path, whatsmeow: WhatsmeowDouble) -> AsyncIterator[NeonizeTransport]:
    transport = NeonizeTransport(Events(), auth_dir=tmp_path, reconnect_backoff=(0.05,), stop_timeout_s=0.5)
    yield transport
    await transport.close()


def test_a_received_video_carries_its_download_handle() -> None:
    got = incoming.message_received("s1", message_event(video_message(), sender=jid(PHONE)))

    assert got.media is not None and (got.media.kind, got.media.size) == ("video", len(VIDEO))
    assert got.media.download == {
        "mediaType": "video", "directPath": PATH, "mediaKey": base64.b64encode(KEY).decode(),
        "fileSHA256": base64.b64encode(hashlib.sha256(VIDEO).digest()).decode(),
        "fileEncSHA256": base64.b64encode(hashlib.sha256(b"enc" + VIDEO).digest()).decode(),
        "fileLength": len(VIDEO), "mimetype": "video/mp4"}
    assert "mediaKey" not in repr(got.media)  # never in a log line


def test_a_medium_without_a_direct_path_has_no_handle() -> None:
    image = e2e.ImageMessage(mimetype="image/jpeg", fileLength=10, URL="https://mmg.example/x")
    got = incoming.message_received("s1", message_event(e2e.Message(imageMessage=image), sender=jid(PHONE)))
    assert got.media is not None and got.media.download is None


async def test_the_download_goes_through_neonize_to_whatsmeow(transport: NeonizeTransport,
                                                              whatsmeow: WhatsmeowDouble) -> None:
    event = incoming.message_received("s1", message_event(video_message(), sender=jid(PHONE)))
    assert event.media is not None and event.media.download is not None
    handle = event.media.download
    with pytest.raises(SessionNotConnected):
        [chunk async for chunk in transport.download_media("s1", handle)]
    await linked(transport, whatsmeow)
    whatsmeow.media_server[PATH] = (KEY, VIDEO)

    chunks = [chunk async for chunk in transport.download_media("s1", handle)]

    assert b"".join(chunks) == VIDEO and max(map(len, chunks)) <= 256 * 1024
    assert whatsmeow.downloads == [(PATH, 1, "video")]  # MediaVideo, and its MMS type
    del whatsmeow.media_server[PATH]  # WhatsApp's CDN forgot it
    with pytest.raises(TransportError) as gone:
        [chunk async for chunk in transport.download_media("s1", handle)]
    assert "404" in gone.value.message
