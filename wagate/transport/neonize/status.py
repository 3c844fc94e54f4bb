"""Text statuses: an ExtendedTextMessage with its background colour and font, sent to status@broadcast (whatsmeow
sends it to the contacts the account's status privacy allows). Image and video statuses are ordinary media sends."""

from __future__ import annotations

from typing import Any

from wagate.transport.base import STATUS_JID, SendResult
from wagate.transport.neonize.sending import NeonizeSending


def status_text_message(text: str, background_argb: int | None, font: int | None) -> Any:
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage, Message

    look: dict[str, Any] = {}
    if background_argb is not None:
        look["backgroundArgb"] = background_argb
        look["textArgb"] = 0xFFFFFFFF  # white on the colour, as WhatsApp's own apps post text
    if font is not None:
        look["font"] = font
    return Message(extendedTextMessage=ExtendedTextMessage(text=text, **look))


class NeonizeStatus(NeonizeSending):
    """Built on the sending part: a status is a send."""

    async def send_status_text(
        self, session_id: str, text: str, *, background_argb: int | None = None, font: int | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        s = await self._ready(session_id)
        return await self._send(s, STATUS_JID, status_text_message(text, background_argb, font))
