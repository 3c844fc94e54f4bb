"""The simulator's side of `WhatsAppTransport.send`: every message kind is accepted as WhatsApp would and recorded
on the simulated recipient's phone (`sent`: kind, text, media, location and the kind's own fields in `content`)."""

from __future__ import annotations

import abc
import base64
from typing import Any

from wagate.errors import MessageUnsendable

from .base import MediaInfo, SendResult
from .outgoing import (
    Contacts,
    Decorations,
    Edit,
    Location,
    Media,
    OutgoingMessage,
    Poll,
    Reaction,
    Revoke,
    Target,
    Text,
    kind_of,
)


class SendingKinds(abc.ABC):
    """Mixed into `SimulatorTransport`: maps each kind to one recorded `SentMessage`."""

    @abc.abstractmethod
    async def _send(self, session_id: str, to: str, kind: str, message_id: str | None, *, text: str | None = None,
                    reply_to: str | None = None, media: MediaInfo | None = None,
                    location: tuple[float, float] | None = None, content: dict[str, Any] | None = None
                    ) -> SendResult: ...

    async def send(
        self, session_id: str, to: str, message: OutgoingMessage, *, message_id: str | None = None
    ) -> SendResult:
        kind = kind_of(message)
        text, content, media, location = _recorded(message)
        extras = getattr(message, "extras", None)
        reply_to = None
        if isinstance(extras, Decorations):
            reply_to = extras.quote.message_id if extras.quote else None
            content |= _decorations(extras)
        return await self._send(session_id, to, kind, message_id, text=text, reply_to=reply_to, media=media,
                                location=location, content=content)


def _recorded(message: OutgoingMessage
              ) -> tuple[str | None, dict[str, Any], MediaInfo | None, tuple[float, float] | None]:
    """(text, content, media, location) as the recipient's phone shows them."""
    match message:
        case Text():
            preview = message.preview
            return message.text, ({"preview": {"url": preview.url, "title": preview.title,
                                                "description": preview.description,
                                                "thumbnail_bytes": len(preview.thumbnail or b"")}}
                                   if preview else {}), None, None
        case Media():
            if not message.data:
                raise MessageUnsendable(f"cannot send {kind_of(message)} media of 0 bytes")
            info = MediaInfo(kind=message.kind, mimetype=message.mimetype, filename=message.file_name,
                             size=len(message.data), caption=message.caption)
            fields = {"width": message.width, "height": message.height, "seconds": message.seconds,
                      "ptt": message.ptt, "gif_playback": message.gif_playback, "page_count": message.page_count,
                      "thumbnail_bytes": len(message.thumbnail or b""),
                      "sha256_head": base64.b64encode(message.data[:12]).decode()}
            return message.caption, fields, info, None
        case Location():
            return message.name or message.caption, {"live": message.live, "address": message.address,
                                                     "caption": message.caption}, None, (
                message.latitude, message.longitude)
        case Contacts():
            return message.cards[0].name, {"contacts": [{"name": c.name, "vcard": c.vcard} for c in message.cards]}, \
                None, None
        case Poll():
            return message.question, {"options": list(message.options), "selectable": message.selectable}, None, None
        case Reaction():
            return message.emoji or None, {"target": _target(message.target), "emoji": message.emoji}, None, None
        case Edit():
            if not message.target.from_me:
                raise MessageUnsendable("only a message this session sent can be edited")
            return message.text, {"target": _target(message.target)}, None, None
        case Revoke():
            return None, {"target": _target(message.target)}, None, None
    raise MessageUnsendable(f"messages of kind {type(message).__name__} cannot be sent")


def _target(target: Target) -> dict[str, Any]:
    return {"message_id": target.message_id, "chat": target.chat, "from_me": target.from_me, "sender": target.sender}


def _decorations(extras: Decorations) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if extras.mentions:
        found["mentions"] = list(extras.mentions)
    if extras.forwarded:
        found["forwarded"] = True
    if extras.quote is not None:
        found["quoted_text"] = extras.quote.text
    return found
