"""What the simulated recipient's phone records of each message kind (`SimulatorSending.send`): its text, medium,
location, and the kind's own fields as JSON-able `content`."""

from __future__ import annotations

import base64
from typing import Any

from wagate.errors import MessageUnsendable
from wagate.transport.base import MediaInfo
from wagate.transport.outgoing import (
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
)


def recorded(message: OutgoingMessage
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
                raise MessageUnsendable(f"cannot send {message.kind} media of 0 bytes")
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


def decorations(extras: Decorations) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if extras.mentions:
        found["mentions"] = list(extras.mentions)
    if extras.forwarded:
        found["forwarded"] = True
    if extras.quote is not None:
        found["quoted_text"] = extras.quote.text
    return found
