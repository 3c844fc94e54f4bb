"""Bodies and answers of the message API (`/api/messages/*`): a send, a send to many, a message, a list query.

WA-Gate v2 clients wrote `phone` and `text`; the gateway's own names are `to` and `message`. Either spelling
loads, but not both in one request. Multipart sends load the same schema from their text fields.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from wagate.db.enums import Direction, MessageStatus, MessageType, Priority
from wagate.services.messaging import kinds
from wagate.services.messaging.drafts import (
    MAX_CAPTION_CHARS,
    MAX_LOCATION_TEXT,
    MAX_RECIPIENTS,
    MAX_REPLY_TO,
    MAX_TEXT_CHARS,
    SENDABLE_TYPES,
)
from wagate.services.messaging.sending import MAX_PAGE_SIZE
from wagate.session_ids import SessionIdField

ALIASES = {"phone": "to", "text": "message"}
_SESSION = SessionIdField()


def _aliased(data: Any, aliases: dict[str, str]) -> Any:
    """Rename WA-Gate v2 field names to the gateway's; giving both spellings of one field is an error."""
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["expects a JSON object"]})
    data = dict(data)
    for old, new in aliases.items():
        if old in data:
            if new in data:
                raise ValidationError({old: [f"give either {old!r} or {new!r}, not both"]})
            data[new] = data.pop(old)
    return data


class ContactCardSchema(Schema):
    """A contact card: a name and a phone number (the vCard is made), or a name and a vCard of your own."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=kinds.MAX_CONTACT_NAME))
    phone = fields.String(load_default=None, validate=validate.Length(min=5, max=32))
    vcard = fields.String(load_default=None, validate=validate.Length(min=1, max=kinds.MAX_VCARD))


class SendSchema(Schema):
    """One message: text, location, or media (the file comes as the multipart `file` part)."""

    session = fields.String(load_default=None, validate=_SESSION)
    # Required, except by a reaction, edit or revoke: they go to the chat of the message they are about.
    to = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    message = fields.String(load_default=None, validate=validate.Length(max=MAX_TEXT_CHARS))
    caption = fields.String(load_default=None, validate=validate.Length(max=MAX_CAPTION_CHARS))
    type = fields.String(load_default=None, validate=validate.OneOf(SENDABLE_TYPES))
    priority = fields.String(load_default=Priority.NORMAL.value, validate=validate.OneOf([p.value for p in Priority]))
    send_at = fields.AwareDateTime(load_default=None)
    reply_to = fields.String(load_default=None, validate=validate.Length(min=1, max=MAX_REPLY_TO))
    latitude = fields.Float(load_default=None, allow_nan=False)
    longitude = fields.Float(load_default=None, allow_nan=False)
    location_name = fields.String(load_default=None, validate=validate.Length(max=MAX_LOCATION_TEXT))
    address = fields.String(load_default=None, validate=validate.Length(max=MAX_LOCATION_TEXT))
    # The kinds beyond text, media and location: see `services.messaging.kinds`.
    target = fields.String(load_default=None, validate=validate.Length(min=1, max=kinds.MAX_TARGET), metadata={
        "description": "reaction, edit, revoke, forward: the WhatsApp id of a message of this session"})
    emoji = fields.String(load_default=None, validate=validate.Length(max=kinds.MAX_EMOJI),
                          metadata={"description": 'reaction: one emoji; "" takes the reaction back'})
    contacts = fields.List(fields.Nested(ContactCardSchema), load_default=None,
                           validate=validate.Length(min=1, max=kinds.MAX_CONTACTS))
    question = fields.String(load_default=None, validate=validate.Length(min=1, max=kinds.MAX_POLL_QUESTION))
    options = fields.List(fields.String(validate=validate.Length(min=1, max=kinds.MAX_POLL_OPTION)),
                          load_default=None,
                          validate=validate.Length(min=kinds.MIN_POLL_OPTIONS, max=kinds.MAX_POLL_OPTIONS))
    selectable = fields.Integer(load_default=None, strict=True,
                                validate=validate.Range(min=0, max=kinds.MAX_POLL_OPTIONS),
                                metadata={"description": "poll: how many options a voter may choose (0: any)"})
    link_preview = fields.Raw(load_default=None, metadata={
        "description": "text: true (fetched from the first link), or {title, description, thumbnail}",
        "oneOf": [{"type": "null"}, {"type": "boolean"}, {"type": "object", "properties": {
            "title": {"type": "string"}, "description": {"type": "string"},
            "thumbnail": {"type": "string", "description": "base64 JPEG"}}}]})
    media_url = fields.Url(load_default=None, schemes={"http", "https"}, require_tld=False,
                           metadata={"description": "media: fetched at acceptance (public addresses only)"})
    media_id = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1),
                              metadata={"description": "media: the id of a stored message whose medium is sent"})

    @pre_load
    def _aliases(self, data: Any, **kwargs: Any) -> Any:
        data = _aliased(data, ALIASES)
        for name in ("selectable", "media_id"):  # a multipart send's fields are text
            if isinstance(data.get(name), str) and data[name].strip().isdigit():
                data[name] = int(data[name])
        return data


_SEND = SendSchema()
# The send fields of the kinds beyond text, media and location, passed on to `SendRequest` as they are.
KIND_FIELDS = ("target", "emoji", "contacts", "question", "options", "selectable", "link_preview", "media_url",
               "media_id")


def kind_fields(values: dict[str, Any]) -> dict[str, Any]:
    """The kind fields of a loaded send, as `SendRequest` keyword arguments."""
    return {name: values[name] for name in KIND_FIELDS}


def load_send(data: Any, *, has_media: bool) -> dict[str, Any]:
    """A send body loaded with `SendSchema`; a text message without `message` is named together with every other
    bad or missing field (the schema alone cannot tell: a media send needs no text, and the file is not a field)."""
    problems: dict[str, Any] = {}
    values: dict[str, Any] = {}
    try:
        values = _SEND.load(data)
    except ValidationError as exc:
        problems = dict(exc.messages) if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    if not has_media and isinstance(data, dict) and _needs_text(data) and "message" not in problems:
        problems["message"] = ["is required for a text message"]
    if isinstance(data, dict) and _needs_to(data) and "to" not in problems:
        problems["to"] = ["Missing data for required field."]
    if problems:
        raise ValidationError(problems)
    return values


def _needs_to(data: dict[str, Any]) -> bool:
    """Every send names its recipient but a reaction, edit or revoke, which go to their target's chat."""
    try:
        data = _aliased(data, ALIASES)
    except ValidationError:
        return False  # reported by the schema already
    return data.get("to") is None and data.get("type") not in kinds.IN_TARGET_CHAT


def _needs_text(data: dict[str, Any]) -> bool:
    """A text message (by its type, or by default: no file, no coordinates) with no text given."""
    try:
        data = _aliased(data, ALIASES)
    except ValidationError:
        return False  # reported by the schema already
    kind = data.get("type")
    if kind not in (None, MessageType.TEXT.value) or (kind is None and data.get("latitude") is not None):
        return False
    if kind is None and (data.get("media_url") is not None or data.get("media_id") is not None):
        return False  # a medium without its type: the route says so
    text = data.get("message")
    return not (isinstance(text, str) and text.strip())


class SendBulkSchema(Schema):
    """The same text to up to 100 numbers; more is a broadcast."""

    session = fields.String(load_default=None, validate=_SESSION)
    to = fields.List(fields.String(validate=validate.Length(min=1, max=128)), required=True,
                     validate=validate.Length(min=1, max=MAX_RECIPIENTS))
    message = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT_CHARS))
    priority = fields.String(load_default=Priority.NORMAL.value, validate=validate.OneOf([p.value for p in Priority]))
    send_at = fields.AwareDateTime(load_default=None)

    @pre_load
    def _aliases(self, data: Any, **kwargs: Any) -> Any:
        return _aliased(data, {"phones": "to", "numbers": "to", "text": "message"})


class MediaSchema(Schema):
    mimetype = fields.String(attribute="media_mime")
    file_name = fields.String(attribute="media_name")


SERVER_ONLY_CONTENT = frozenset({"mediaDownload"})  # kept in a message's content, never shown (README)
_NOT_SENT = frozenset({MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.FAILED})


class MessageSchema(Schema):
    """A message as the API shows it; `to` is the normalised recipient, `chat` the WhatsApp chat."""

    id = fields.Integer()
    session = fields.String(attribute="session_id", allow_none=True)
    direction = fields.String()
    to = fields.String(attribute="recipient", allow_none=True)
    chat = fields.String(attribute="chat_jid", allow_none=True)  # the phone-number JID wherever it is known
    chat_lid = fields.String(allow_none=True)  # the LID WhatsApp addressed the chat by, if it did
    sender = fields.String(attribute="sender_jid", allow_none=True)
    type = fields.String()
    text = fields.String(attribute="body", allow_none=True)
    caption = fields.String(allow_none=True)
    media = fields.Method("_media", allow_none=True)
    content = fields.Method("_content", allow_none=True, metadata={"type": "object"})
    reply_to = fields.String(allow_none=True)
    status = fields.String()
    priority = fields.String()
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    wa_message_id = fields.Method("_wa_message_id", allow_none=True, metadata={"type": "string"})
    broadcast_id = fields.Integer(allow_none=True)
    send_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    sent_at = fields.AwareDateTime(allow_none=True)
    delivered_at = fields.AwareDateTime(allow_none=True)
    read_at = fields.AwareDateTime(allow_none=True)
    failed_at = fields.AwareDateTime(allow_none=True)

    def _wa_message_id(self, message: Any) -> str | None:
        # An outgoing row carries the id it is sent under from its first attempt on, but until WhatsApp has
        # accepted it that is only the id it may get (the neonize transport's answer replaces it).
        return None if message.status in _NOT_SENT else message.wa_message_id

    def _content(self, message: Any) -> dict[str, Any] | None:
        # The medium's download handle (its decryption key among it) stays on the server, as in webhooks.
        content = message.content
        return None if content is None else {k: v for k, v in content.items() if k not in SERVER_ONLY_CONTENT}

    def _media(self, message: Any) -> dict[str, Any] | None:
        if not message.media_mime:
            return None
        kept = message.media_id is not None or message.media_path or message.media_source
        # Where a caller with a key gets the file (`?as=link`: a URL that needs none, for a browser to open).
        return {"mimetype": message.media_mime, "file_name": message.media_name,
                "url": f"/api/media/{message.id}" if kept else None}


class MessagePageSchema(Schema):
    items = fields.List(fields.Nested(MessageSchema))
    page = fields.Integer()
    limit = fields.Integer()
    total = fields.Integer()


class ListQuerySchema(Schema):
    """`GET /api/messages` query: every filter optional; `phone` is another spelling of `chat`."""

    session = fields.String(load_default=None, validate=_SESSION)
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in MessageStatus]))
    direction = fields.String(load_default=None, validate=validate.OneOf([d.value for d in Direction]))
    chat = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    # A date covers its whole day in the gateway's time zone (`to` inclusive): see `resolve_bound`.
    from_ = fields.String(data_key="from", load_default=None, validate=validate.Length(min=10, max=40))
    to = fields.String(load_default=None, validate=validate.Length(min=10, max=40))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))

    @pre_load
    def _aliases(self, data: Any, **kwargs: Any) -> Any:
        return _aliased(data, {"phone": "chat"})


def resolve_bound(value: str | None, zone: str, *, end: bool, name: str) -> datetime | None:
    """A `from`/`to` filter as an aware instant: a date covers its whole day in `zone` (`to` inclusive)."""
    if value is None:
        return None
    tz = ZoneInfo(zone)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time(), tz)
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValidationError({name: ["expects a date (YYYY-MM-DD) or an ISO 8601 date-time"]}) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


