"""The documented `data` of the events about received messages (`message.received` and the changes to a message),
for the OpenAPI document's `webhooks`. Built by `wagate.bridge.received_shape` and `wagate.bridge.message_changes`;
tests hold real event bodies to these shapes."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

RECEIVED_TYPES = ("text", "image", "video", "audio", "document", "sticker", "location", "live_location", "contact",
                  "poll", "unknown", "other")
PRESENCE_STATES = ("available", "unavailable", "composing", "recording", "paused")


def _text() -> fields.String:
    return fields.String(allow_none=True, required=True)


class ReceivedMediaSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(("image", "video", "audio", "document", "sticker")))
    mimetype = _text()
    filename = _text()
    size = fields.Integer(allow_none=True, required=True)
    caption = _text()
    sha256 = fields.String(allow_none=True, required=True, metadata={"description": "hex SHA-256 of the file"})
    width = fields.Integer(allow_none=True, required=True)
    height = fields.Integer(allow_none=True, required=True)
    seconds = fields.Integer(allow_none=True, required=True)
    ptt = fields.Boolean(required=True, metadata={"description": "a voice note"})
    hasThumbnail = fields.Boolean(required=True)
    url = fields.String(metadata={"description": "a signed link to GET /api/media/{id} that needs no key until it "
                                                 "expires (MEDIA_URL_TTL_S)"})


class QuotedSchema(Schema):
    id = fields.String(required=True)
    sender = _text()
    text = _text()


class ReceivedLocationSchema(Schema):
    latitude = fields.Float(required=True)
    longitude = fields.Float(required=True)
    name = _text()
    address = _text()
    url = _text()
    live = fields.Boolean(required=True)
    accuracy = fields.Integer(allow_none=True, required=True)
    caption = _text()


class SharedContactSchema(Schema):
    name = _text()
    vcard = _text()
    phones = fields.List(fields.String(), required=True)


class ReceivedPollSchema(Schema):
    question = fields.String(required=True)
    options = fields.List(fields.String(), required=True)
    selectableCount = fields.Integer(required=True, metadata={"description": "0: any number of options"})


class LinkPreviewSchema(Schema):
    url = _text()
    title = _text()
    description = _text()
    hasThumbnail = fields.Boolean(required=True)


class ReceivedMessageSchema(Schema):
    """`message.received`'s `data`: the WA-Gate v2 fields, then what the message's kind carries."""

    id = fields.Integer(required=True, metadata={"description": "the stored message"})
    from_ = fields.String(data_key="from", required=True, metadata={"description": "the sender's phone-number JID"})
    message = _text()
    messageId = fields.String(required=True)
    pushName = _text()
    type = fields.String(required=True, validate=validate.OneOf(RECEIVED_TYPES))
    chat = _text()
    chatLid = _text()
    isGroup = fields.Boolean(required=True)
    fromMe = fields.Boolean(required=True)
    senderLid = _text()
    quotedMessageId = _text()
    timestamp = fields.Integer(required=True)
    text = _text()
    caption = _text()
    media = fields.Nested(ReceivedMediaSchema, allow_none=True, required=True)
    quoted = fields.Nested(QuotedSchema, allow_none=True, required=True)
    mentions = fields.List(fields.String(), required=True)
    location = fields.Nested(ReceivedLocationSchema, allow_none=True, required=True)
    contacts = fields.List(fields.Nested(SharedContactSchema), required=True)
    poll = fields.Nested(ReceivedPollSchema, allow_none=True, required=True)
    linkPreview = fields.Nested(LinkPreviewSchema, allow_none=True, required=True)
    forwarded = fields.Boolean(required=True)
    unknown_ = fields.List(fields.String(), data_key="unknown", allow_none=True, required=True)


class MessageChangeSchema(Schema):
    """`message.reaction`, `message.edited`, `message.revoked` and `poll.vote`'s `data`: the original and the change."""

    id = fields.Integer(allow_none=True, required=True, metadata={"description": "the stored original, if stored"})
    messageId = fields.String(required=True, metadata={"description": "WhatsApp id of the original"})
    changeId = fields.String(required=True)
    chat = fields.String(required=True)
    from_ = fields.String(data_key="from", required=True)
    fromMe = fields.Boolean(required=True)
    timestamp = fields.Integer(required=True)
    reaction = fields.String(allow_none=True, metadata={"description": "message.reaction: null when taken back"})
    removed = fields.Boolean()
    message = fields.String(allow_none=True, metadata={"description": "message.edited: the new text"})
    previousMessage = fields.String(allow_none=True)
    options = fields.List(fields.String(), allow_none=True, metadata={
        "description": "poll.vote: the options chosen; null when the vote could not be decrypted"})
    question = fields.String(allow_none=True)
    tally = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True)


class PresenceUpdateSchema(Schema):
    chat = fields.String(required=True)
    from_ = fields.String(data_key="from", required=True)
    state = fields.String(required=True, validate=validate.OneOf(PRESENCE_STATES))
    lastSeen = fields.Integer(allow_none=True, required=True)


class HistorySyncedSchema(Schema):
    syncType = fields.String(required=True)
    progress = fields.Integer(allow_none=True, required=True)
    mode = fields.String(required=True, validate=validate.OneOf(("none", "recent", "full")))
    received = fields.Integer(required=True)
    stored = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    skipped = fields.Integer(required=True)
    oldest = fields.Integer(allow_none=True, required=True)
    newest = fields.Integer(allow_none=True, required=True)


# event → the schema of its `data`
EVENT_DATA: dict[str, type[Schema]] = {
    "message.received": ReceivedMessageSchema,
    "message.reaction": MessageChangeSchema,
    "message.edited": MessageChangeSchema,
    "message.revoked": MessageChangeSchema,
    "poll.vote": MessageChangeSchema,
    "presence.update": PresenceUpdateSchema,
    "history.synced": HistorySyncedSchema,
}
