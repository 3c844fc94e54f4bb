"""The one documented shape of a received message, as `message.received` carries it and the message row keeps it.

The WA-Gate v2 fields come first and keep their meaning (`from`, `message`, `messageId`, `pushName`, `type`, …);
each kind adds what it carries: `text` / `caption`, `media` (metadata only), `quoted`, `mentions`, `location`,
`contacts`, `poll`, `linkPreview`, `forwarded`, `unknown`. The medium's download handle is kept in the row's
`media_source` and never leaves the server (README "What a received message carries").
"""

from __future__ import annotations

from typing import Any

from wagate.transport.base import MediaInfo, MessageReceived


def media_shape(media: MediaInfo | None) -> dict[str, Any] | None:
    if media is None:
        return None
    return {
        "kind": media.kind, "mimetype": media.mimetype, "filename": media.filename, "size": media.size,
        "caption": media.caption, "sha256": media.sha256, "width": media.width, "height": media.height,
        "seconds": media.seconds, "ptt": media.ptt, "hasThumbnail": media.has_thumbnail,
    }


def kind_shape(event: MessageReceived) -> dict[str, Any]:
    """What the message's kind carries, beside its text: the fields stored in `content` and sent in the event."""
    quoted, location, poll, preview = event.quoted, event.location, event.poll, event.link_preview
    return {
        "text": event.text if event.media is None else None,
        "caption": event.media.caption if event.media is not None else None,
        "media": media_shape(event.media),
        "quoted": None if quoted is None else {"id": quoted.message_id, "sender": quoted.sender,
                                               "text": quoted.text},
        "mentions": list(event.mentions),
        "location": None if location is None else {
            "latitude": location.latitude, "longitude": location.longitude, "name": location.name,
            "address": location.address, "url": location.url, "live": location.live,
            "accuracy": location.accuracy_m, "caption": location.caption},
        "contacts": [{"name": c.name, "vcard": c.vcard, "phones": list(c.phones)} for c in event.contacts],
        "poll": None if poll is None else {"question": poll.question, "options": list(poll.options),
                                           "selectableCount": poll.selectable_count},
        "linkPreview": None if preview is None else {
            "url": preview.url, "title": preview.title, "description": preview.description,
            "hasThumbnail": preview.has_thumbnail},
        "forwarded": event.forwarded,
        "unknown": list(event.unknown) or None,
    }


def stored_content(event: MessageReceived, *, history: bool = False) -> dict[str, Any]:
    """The row's `content`: who sent it, the kind's fields, and (server-side only) the medium's download handle."""
    content: dict[str, Any] = {"pushName": event.push_name, "senderLid": event.sender_lid, "isGroup": event.is_group,
                               "fromMe": event.from_me, **kind_shape(event)}
    if event.poll is not None:
        content["poll"] = {**content["poll"], "votes": {}, "tally": {option: 0 for option in event.poll.options}}
    if history:
        content["history"] = True
    return content
