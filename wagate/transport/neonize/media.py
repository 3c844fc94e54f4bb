"""neonize's side of received media: the download through whatsmeow (`DownloadMediaWithPath`: direct path, media key
and hashes, decrypted and checked by whatsmeow) by the handle `incoming.media_of` read from the message.
The mixin of `NeonizeTransport` for media."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

from wagate.errors import TransportError
from wagate.transport.neonize.session import NeonizeBase

DOWNLOAD_CHUNK = 256 * 1024
# neonize's MediaType values (neonize.utils.enum.MediaType) by whatsmeow's media type of the handle.
_MEDIA_TYPES = {"image": "MediaImage", "video": "MediaVideo", "audio": "MediaAudio", "document": "MediaDocument"}


class NeonizeMedia(NeonizeBase):
    """`download_media` over the session's connected neonize client."""

    async def download_media(self, session_id: str, handle: dict[str, Any]) -> AsyncIterator[bytes]:
        from neonize.exc import DownloadError
        from neonize.utils.enum import MediaType

        kind = _MEDIA_TYPES.get(str(handle.get("mediaType")))
        if kind is None or not handle.get("directPath"):
            raise TransportError("this message carries no medium WhatsApp can download")
        media_type = MediaType[kind]
        s = await self._ready(session_id)
        try:
            data: bytes = await s.client.download_media_with_path(
                handle["directPath"], base64.b64decode(handle["fileEncSHA256"]),
                base64.b64decode(handle["fileSHA256"]), base64.b64decode(handle["mediaKey"]),
                int(handle.get("fileLength") or 0), media_type, media_type.to_mms())
        except DownloadError as exc:  # whatsmeow's text: 404/410 from the CDN, a hash mismatch, …
            raise TransportError(f"WhatsApp did not give the medium: {exc}") from exc
        # whatsmeow hands over the whole decrypted file; from here on it travels in chunks.
        for start in range(0, len(data), DOWNLOAD_CHUNK):
            yield data[start:start + DOWNLOAD_CHUNK]
