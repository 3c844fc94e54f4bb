"""A broadcast of any message kind: checked once as a send of that kind would be, its medium converted and measured
once, and the kind's fields kept on the broadcast for every recipient's message (see `progress.expand_chunk`).

The template is what varies per recipient: the text of a text, the caption of a medium (none for a voice note or
a sticker, as WhatsApp shows none); a location, contact card or poll is the same for everyone. Reactions, edits,
revokes and forwards name one message of one chat, so they cannot be broadcast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.config import Settings
from wagate.db.enums import MessageType
from wagate.errors import Invalid
from wagate.services.messaging import kind_prep
from wagate.services.messaging import kinds as message_kinds
from wagate.services.messaging import media as media_files
from wagate.services.messaging.drafts import SendRequest, validate

BROADCAST_KINDS = tuple(k for k in message_kinds.SEND_KINDS if k not in message_kinds.TARGET_KINDS)
# The send fields a broadcast of a kind may carry (the rest of a send's fields make no sense for many recipients).
FIELDS = ("contacts", "question", "options", "selectable", "latitude", "longitude", "location_name", "address")


@dataclass(frozen=True, slots=True)
class BroadcastKind:
    row_type: MessageType
    content: dict[str, Any] | None
    media: bytes | None = None  # converted where WhatsApp needs another form
    media_kind: media_files.MediaKind | None = None


async def prepare(kind: str, template: str, sample_phone: str, media: bytes | None, file_name: str | None,
                  fields: Mapping[str, Any], settings: Settings, now: datetime) -> BroadcastKind:
    """The kind checked on a sample recipient as a send of it is (the same refusals, under the broadcast's names)."""
    if kind not in BROADCAST_KINDS:
        raise Invalid("Invalid broadcast", details={"type": f"must be one of {', '.join(BROADCAST_KINDS)} (a "
                                                            "reaction, edit, revoke or forward is of one chat)"})
    given = {name: value for name, value in fields.items() if name in FIELDS and value is not None}
    request = SendRequest(session_id="broadcast", to=sample_phone, type=kind, text=template, media=media,
                          file_name=file_name, **given)
    try:
        draft = validate(request, settings, now)
    except Invalid as exc:
        details = {("template" if k == "text" else k): v for k, v in (exc.details or {}).items()}
        raise Invalid("Invalid broadcast", details=details) from exc
    content = dict(draft.content or {})
    if draft.kind not in message_kinds.MEDIA_KINDS or media is None:
        return BroadcastKind(draft.type, content or None)
    data, sniffed, facts = await kind_prep.prepare_media(draft.kind, draft.type, media, file_name, settings)
    return BroadcastKind(draft.type, kind_prep.with_facts(content, facts) or None, data, sniffed)


def message_fields(broadcast_kind: str | None, content: dict[str, Any] | None, rendered: str) -> dict[str, Any]:
    """The body and caption of one recipient's message of a broadcast of `broadcast_kind` (its row type)."""
    content = content or {}
    if broadcast_kind == MessageType.TEXT:
        return {"body": rendered, "caption": None}
    if broadcast_kind == MessageType.POLL:
        return {"body": content.get("question"), "caption": None}
    if broadcast_kind in (MessageType.LOCATION, MessageType.CONTACT, MessageType.STICKER) or content.get("ptt"):
        return {"body": None, "caption": None}
    return {"body": None, "caption": rendered or None}
