"""What a send asks for, checked: every field validated at once into a `Draft`, before the database is touched.

Shared by the single send, send-to-many and the send intake (group commit), so all three refuse exactly the same.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from wagate.config import Settings
from wagate.db.enums import MessageType, Priority
from wagate.errors import Invalid
from wagate.services.messaging import kinds
from wagate.services.messaging.phones import STATUS, Recipient, normalize_recipient

MAX_TEXT_CHARS = 65_536  # WhatsApp's own limit for a text message
# WhatsApp cuts captions at 1,024 characters; it also keeps the caption within MySQL's TEXT column.
MAX_CAPTION_CHARS = 1024
MAX_IDEMPOTENCY_KEY = 191  # the column's length
MAX_REPLY_TO = 128
MAX_LOCATION_TEXT = 256
SEND_AT_GRACE = timedelta(minutes=1)  # a client clock slightly behind ours is not "in the past"
SEND_AT_HORIZON = timedelta(days=30)
MAX_RECIPIENTS = 100  # send-to-many in one request; larger lists are a broadcast
TARGET_CHAT = Recipient(address="", jid="", kind="user")  # a reaction, edit or revoke without `to`: its target's

SENDABLE_TYPES = kinds.SEND_KINDS  # what a send's `type` may be: see `kinds`
MEDIA_TYPES = (MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.DOCUMENT)


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message to send, as plain data (the web and the worker build it from their own inputs)."""

    session_id: str
    to: str
    type: MessageType | str = MessageType.TEXT
    text: str | None = None
    caption: str | None = None
    media: bytes | None = field(default=None, repr=False)
    file_name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    location_name: str | None = None
    address: str | None = None
    reply_to: str | None = None
    priority: Priority | str = Priority.NORMAL
    send_at: datetime | None = None
    idempotency_key: str | None = None
    message_id: str | None = None  # the WhatsApp message id to send under (wuzapi's `Id`); None: the bridge picks
    # The kinds beyond text, media and location (see `kinds`): a poll's, contact cards', a reaction's … fields.
    target: str | None = None  # the WhatsApp id of the message a reaction, edit, revoke or forward is about
    emoji: str | None = None
    contacts: list[dict[str, Any]] | None = None
    question: str | None = None
    options: list[str] | None = None
    selectable: int | None = None
    link_preview: Any = None  # True, or {title, description, thumbnail}
    media_url: str | None = None  # media fetched from an http(s) URL at acceptance
    media_id: int | None = None  # media of a stored message of the same tenant, sent again

    @property
    def needs_preparing(self) -> bool:
        """Whether accepting it needs more than the row (a lookup, a fetch, a file): see `kind_prep`."""
        return bool(self.media or self.media_url or self.media_id is not None or self.target or self.reply_to
                    or self.link_preview or str(self.type) not in ("text", "location"))
    status: bool = False  # posted as the session's status (story) to status@broadcast; `to` is not read


@dataclass(frozen=True, slots=True)
class Draft:
    """A validated request: everything of the row except what the database and the file store decide."""

    recipient: Recipient
    type: MessageType
    body: str | None
    caption: str | None
    content: dict[str, Any] | None
    reply_to: str | None
    priority: Priority
    send_at: datetime | None
    message_id: str | None = None
    kind: str = "text"  # what was asked for: a `kinds.SEND_KINDS` name (`voice` is an `audio` row, …)


def validate_many(session_id: str, recipients: Sequence[str], text: str, priority: Priority | str,
                   send_at: datetime | None, settings: Settings, now: datetime) -> dict[str, Draft]:
    """Drafts by normalised recipient, first spelling first; every bad recipient named by its index."""
    if not recipients:
        raise Invalid("Invalid message", details={"to": "needs at least one recipient"})
    if len(recipients) > MAX_RECIPIENTS:
        raise Invalid("Invalid message", details={
            "to": f"has {len(recipients)} recipients; the limit is {MAX_RECIPIENTS} (use a broadcast for more)"})
    errors: dict[str, Any] = {}
    drafts: dict[str, Draft] = {}
    for index, to in enumerate(recipients):
        request = SendRequest(session_id=session_id, to=to, text=text, priority=priority, send_at=send_at)
        try:
            draft = validate(request, settings, now, field_name=f"to[{index}]")
        except Invalid as exc:
            errors.update(exc.details or {})
            continue
        drafts.setdefault(draft.recipient.address, draft)
    if errors:
        raise Invalid("Invalid message", details=errors)
    return drafts


def validate(request: SendRequest, settings: Settings, now: datetime, *, field_name: str = "to") -> Draft:
    """Every field check at once, so the caller hears about all bad fields in one `Invalid`."""
    errors: dict[str, str] = {}
    recipient: Recipient | None = None
    kind = str(request.type.value if isinstance(request.type, MessageType) else request.type)
    try:
        if request.status:
            recipient = STATUS
        elif not request.to and kind in kinds.IN_TARGET_CHAT:
            recipient = TARGET_CHAT  # `kind_prep` puts the target's chat here
        else:
            recipient = normalize_recipient(request.to, settings.default_region, field=field_name)
    except Invalid as exc:
        errors.update(exc.details or {})
    if kind not in kinds.SEND_KINDS:
        errors["type"] = f"must be one of {', '.join(kinds.SEND_KINDS)}"
    priority = enum_value(Priority, request.priority, "priority", errors) or Priority.NORMAL

    body = caption = None
    content: dict[str, Any] | None = None
    if kind == "text":
        if not isinstance(request.text, str) or not request.text.strip():
            errors["text"] = "is required for a text message"
        elif len(request.text) > MAX_TEXT_CHARS:
            errors["text"] = f"is {len(request.text)} characters; WhatsApp allows {MAX_TEXT_CHARS}"
        else:
            body = request.text
            content = _text_extras(request, errors)
    elif kind in kinds.MEDIA_KINDS:
        if not request.media and not request.media_url and request.media_id is None:
            errors["media"] = f"is required for a{'n' if kind[0] in 'aeiou' else ''} {kind} message: a file, " \
                              "media_url or media_id"
        caption = request.caption if request.caption is not None else request.text  # text doubles as caption
        if caption is not None and len(caption) > MAX_CAPTION_CHARS:
            errors["caption"] = f"is {len(caption)} characters; WhatsApp allows {MAX_CAPTION_CHARS}"
        if kind in ("voice", "sticker"):
            caption = None  # WhatsApp shows no caption on these
        caption = caption or None
        content = kinds.check_kind_fields(kind, {}, errors) or None
        if caption and (found := kinds.mentions_in(caption)):
            content = (content or {}) | {"mentions": found}
    elif kind in ("location", "live_location"):
        content = (_location(request, errors) or {}) | kinds.check_kind_fields(kind, {}, errors)
        if kind == "live_location":
            content["caption"] = content.pop("name", None) or request.caption
    elif kind in kinds.SEND_KINDS:
        content = kinds.check_kind_fields(kind, {
            "target": request.target, "emoji": request.emoji, "contacts": request.contacts,
            "question": request.question, "options": request.options, "selectable": request.selectable}, errors)
        if kind == "edit":
            if not isinstance(request.text, str) or not request.text.strip() or len(request.text) > MAX_TEXT_CHARS:
                errors["text"] = f"is required for an edit: the new text, 1 to {MAX_TEXT_CHARS} characters"
            else:
                body = request.text
        elif kind == "poll":
            body = request.question

    if request.reply_to is not None and not _is_text(request.reply_to, MAX_REPLY_TO):
        errors["reply_to"] = f"must be a WhatsApp message id of 1 to {MAX_REPLY_TO} characters"
    send_at = _send_at(request.send_at, now, errors)
    if request.message_id is not None and not _is_message_id(request.message_id):
        errors["message_id"] = f"must be 1 to {MAX_REPLY_TO} letters, digits, '-' or '_'"

    if errors:
        raise Invalid("Invalid message", details=errors)
    assert recipient is not None
    return Draft(recipient=recipient, type=kinds.ROW_TYPES[kind], body=body, caption=caption, content=content or None,
                  reply_to=request.reply_to, priority=priority, send_at=send_at, message_id=request.message_id,
                  kind=kind)


def _text_extras(request: SendRequest, errors: dict[str, str]) -> dict[str, Any] | None:
    """Mentions (`@<digits>` in the text) and the link preview asked for."""
    extras: dict[str, Any] = {}
    if found := kinds.mentions_in(request.text):
        extras["mentions"] = found
    preview = kinds.check_link_preview(request.link_preview, request.text, errors)
    if preview is not None:
        extras["preview"] = preview
    return extras or None


def _location(request: SendRequest, errors: dict[str, str]) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    for name, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0)):
        value = getattr(request, name)
        # bool is an int in Python; True is not a coordinate.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            errors[name] = "is required: a number" if value is None else "must be a finite number"
        elif not low <= value <= high:
            errors[name] = f"must be from {low:g} to {high:g}"
        else:
            content[name] = float(value)
    for name, attr in (("name", "location_name"), ("address", "address")):
        value = getattr(request, attr)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > MAX_LOCATION_TEXT:
            errors[attr] = f"must be text of at most {MAX_LOCATION_TEXT} characters"
        else:
            content[name] = value
    return content


def _send_at(value: datetime | None, now: datetime, errors: dict[str, str]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        errors["send_at"] = "must be a date and time with a time zone"
        return None
    if value < now - SEND_AT_GRACE:
        errors["send_at"] = "is in the past"
    elif value > now + SEND_AT_HORIZON:
        errors["send_at"] = f"is more than {SEND_AT_HORIZON.days} days ahead"
    return value


def enum_value(enum: Any, value: Any, name: str, errors: dict[str, str]) -> Any:
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        errors[name] = f"must be one of {', '.join(member.value for member in enum)}"
        return None


def _is_message_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_REPLY_TO and value.replace("-", "").replace(
        "_", "").isalnum() and value.isascii()


def _is_text(value: object, longest: int) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= longest


def checked_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _is_text(value, MAX_IDEMPOTENCY_KEY):
        raise Invalid("Invalid message", details={"idempotency_key": f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"})
    return value


def derived_key(key: str, address: str) -> str:
    """A per-recipient key for send-to-many; hashed when the readable form would not fit the column."""
    readable = f"{key}:{address}"
    if len(readable) <= MAX_IDEMPOTENCY_KEY:
        return readable
    return f"{key[:MAX_IDEMPOTENCY_KEY - 41]}#{hashlib.sha256(readable.encode()).hexdigest()[:40]}"
