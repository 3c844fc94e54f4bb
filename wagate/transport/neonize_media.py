"""neonize's side of received media: the download handle read from a message's protobuf, and the download through
whatsmeow (`DownloadMediaWithPath`: direct path, media key and hashes, decrypted and checked by whatsmeow).
Mixed into the neonize transport."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

from wagate.errors import TransportError

DOWNLOAD_CHUNK = 256 * 1024
# neonize's MediaType values (neonize.utils.enum.MediaType) by the gateway's kinds; a sticker is an image download.
_MEDIA_TYPES = {"image": "MediaImage", "sticker": "MediaImage", "video": "MediaVideo", "audio": "MediaAudio",
                "document": "MediaDocument"}


def media_handle(kind: str, sub: Any) -> dict[str, Any] | None:
    """What `download_media` needs of an image/video/audio/document/sticker message; None without a direct path."""
    fields = {f.name for f in sub.DESCRIPTOR.fields}
    if not {"directPath", "mediaKey", "fileSHA256", "fileEncSHA256"} <= fields or not sub.directPath:
        return None
    encode = base64.b64encode
    return {"kind": kind, "directPath": sub.directPath, "mediaKey": encode(sub.mediaKey).decode(),
            "fileSha256": encode(sub.fileSHA256).decode(), "fileEncSha256": encode(sub.fileEncSHA256).decode(),
            "fileLength": int(sub.fileLength or 0)}


class NeonizeMedia:
    """`download_media` over the session's neonize client (`self.client(session_id)`)."""

    async def download_media(self, session_id: str, handle: dict[str, Any]) -> AsyncIterator[bytes]:
        from neonize.exc import DownloadError
        from neonize.utils.enum import MediaType

        kind = _MEDIA_TYPES.get(str(handle.get("kind")))
        if kind is None or not handle.get("directPath"):
            raise TransportError("this message carries no medium WhatsApp can download")
        media_type = MediaType[kind]
        client = self.client(session_id)  # type: ignore[attr-defined]
        try:
            data: bytes = await client.download_media_with_path(
                handle["directPath"], base64.b64decode(handle["fileEncSha256"]),
                base64.b64decode(handle["fileSha256"]), base64.b64decode(handle["mediaKey"]),
                int(handle.get("fileLength") or 0), media_type, media_type.to_mms())
        except DownloadError as exc:  # whatsmeow's text: 404/410 from the CDN, a hash mismatch, …
            raise TransportError(f"WhatsApp did not give the medium: {exc}") from exc
        # whatsmeow hands over the whole decrypted file; from here on it travels in chunks.
        for start in range(0, len(data), DOWNLOAD_CHUNK):
            yield data[start:start + DOWNLOAD_CHUNK]
