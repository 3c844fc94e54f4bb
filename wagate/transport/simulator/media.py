"""The simulator's media: a phone sends a file (its bytes go to the simulated media server), the gateway downloads it
by the handle the message carried, as whatsmeow downloads from WhatsApp's CDN. The mixin of `SimulatorTransport`
for media; its phone-side control is `inject_media`."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

from wagate.errors import TransportError
from wagate.transport.base import MediaInfo, MessageReceived
from wagate.transport.simulator.session import SimulatorBase

CDN_CHUNK = 256 * 1024  # what the simulated media server answers per read


class SimulatorMedia(SimulatorBase):
    """Phone side: `inject_media` (through the phone's `inject_message`); gateway side: `download_media`."""

    _media_server: dict[str, bytes]

    def _served(self) -> dict[str, bytes]:
        if not hasattr(self, "_media_server"):
            self._media_server = {}
        return self._media_server

    async def inject_media(self, session_id: str, from_phone: str, data: bytes, *, kind: str, mimetype: str,
                           filename: str | None = None, caption: str | None = None, **message: Any
                           ) -> MessageReceived:
        """Someone sends the session a file: its bytes are uploaded first, the message carries their handle."""
        handle = self.upload_media(data)
        media = MediaInfo(kind=kind, mimetype=mimetype, filename=filename, size=len(data), caption=caption,
                          download=handle)
        inject = self.inject_message  # type: ignore[attr-defined]
        result: MessageReceived = await inject(session_id, from_phone, caption, media=media, **message)
        return result

    def upload_media(self, data: bytes) -> dict[str, Any]:
        """Put `data` on the simulated media server (a phone sending a file, or the gateway sending one); its handle."""
        token = secrets.token_urlsafe(16)
        self._served()[token] = data
        return {"simulator": token, "fileSha256": hashlib.sha256(data).hexdigest(), "fileLength": len(data)}

    def expire_media(self, handle: dict[str, Any]) -> None:
        """The media server forgets a file, as WhatsApp's does after a while."""
        self._served().pop(str(handle.get("simulator")), None)

    async def download_media(self, session_id: str, handle: dict[str, Any]) -> AsyncIterator[bytes]:
        data = self._served().get(str(handle.get("simulator")))
        if data is None:
            raise TransportError("WhatsApp no longer has this medium (the download answered 404)")
        for start in range(0, len(data), CDN_CHUNK):
            yield data[start:start + CDN_CHUNK]
