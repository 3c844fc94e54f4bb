"""A queued row as the message description the transport sends (`wagate.transport.outgoing`).

The row holds what was decided at acceptance (`kind_prep`): the kind's fields in `content`, the medium in its
file, already converted and measured. Plain text, location and media rows without any of the newer fields go
through the transport's original methods, exactly as before; everything else through `send`.
"""

from __future__ import annotations

import base64
from typing import Any

from wagate.db.enums import MessageType
from wagate.db.models_whatsapp import Message
from wagate.errors import MessageUnsendable
from wagate.transport.outgoing import (
    ContactCard,
    Contacts,
    Decorations,
    Edit,
    LinkPreview,
    Location,
    Media,
    OutgoingMessage,
    Poll,
    Quote,
    Reaction,
    Revoke,
    Target,
    Text,
)

MEDIA_ROW_TYPES = (MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT, MessageType.STICKER)
_PLAIN_LOCATION = frozenset({"latitude", "longitude", "name", "address"})


def is_plain(message: Message) -> bool:
    """A row the transport's original send_text / send_location / send_media carries whole."""
    content = message.content or {}
    if message.type == MessageType.TEXT:
        return not content
    if message.type == MessageType.LOCATION:
        return set(content) <= _PLAIN_LOCATION
    return False


def outgoing_of(message: Message, data: bytes | None) -> OutgoingMessage:
    """The description of `message`; `data` is its medium's bytes (media rows only)."""
    content: dict[str, Any] = message.content or {}
    extras = _decorations(message, content)
    kind = message.type
    if kind == MessageType.TEXT:
        preview = content.get("preview")
        return Text(text=message.body or "", extras=extras, preview=LinkPreview(
            url=preview["url"], title=preview.get("title"), description=preview.get("description"),
            thumbnail=_bytes(preview.get("thumbnail"))) if isinstance(preview, dict) else None)
    if kind in MEDIA_ROW_TYPES:
        if not data:
            raise MessageUnsendable("the media file of this message is missing")
        return Media(kind=kind.value, data=data, mimetype=message.media_mime or "application/octet-stream",  # type: ignore[arg-type]
                     file_name=message.media_name, caption=message.caption, width=content.get("width"),
                     height=content.get("height"), seconds=content.get("seconds"),
                     thumbnail=_bytes(content.get("thumbnail")), ptt=bool(content.get("ptt")),
                     gif_playback=bool(content.get("gif_playback")), page_count=content.get("page_count"),
                     extras=extras)
    if kind == MessageType.LOCATION:
        return Location(latitude=float(content["latitude"]), longitude=float(content["longitude"]),
                        name=content.get("name"), address=content.get("address"), live=bool(content.get("live")),
                        caption=content.get("caption"), extras=extras)
    if kind == MessageType.CONTACT:
        cards = tuple(ContactCard(name=c["name"], vcard=c["vcard"]) for c in content.get("contacts") or [])
        if not cards:
            raise MessageUnsendable("this contact message has no cards")
        return Contacts(cards=cards, extras=extras)
    if kind == MessageType.POLL:
        return Poll(question=content["question"], options=tuple(content["options"]),
                    selectable=int(content.get("selectable", 1)), extras=extras)
    if kind in (MessageType.REACTION, MessageType.EDIT, MessageType.REVOKE):
        target = Target(message_id=content["target"], chat=content.get("target_chat") or message.chat_jid or "",
                        from_me=bool(content.get("target_from_me")), sender=content.get("target_sender"))
        if kind == MessageType.REACTION:
            return Reaction(target=target, emoji=content.get("emoji") or "")
        if kind == MessageType.EDIT:
            return Edit(target=target, text=message.body or "")
        return Revoke(target=target)
    raise MessageUnsendable(f"messages of type {kind} cannot be sent")


def _decorations(message: Message, content: dict[str, Any]) -> Decorations:
    quote = None
    if message.reply_to:
        stored = content.get("quote") or {}
        quote = Quote(message_id=message.reply_to, sender=stored.get("sender"), from_me=bool(stored.get("from_me")),
                      text=stored.get("text"))
    return Decorations(quote=quote, mentions=tuple(content.get("mentions") or ()),
                       forwarded=bool(content.get("forwarded")))


def _bytes(value: Any) -> bytes | None:
    return base64.b64decode(value) if isinstance(value, str) and value else None
