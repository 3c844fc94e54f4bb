"""Queries, bodies and answers of the chats and contacts API (`/api/chats*`, `/api/contacts*`, a session's
presence and own profile)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from wagate.schemas.messages import MessageSchema
from wagate.services.chats import activity
from wagate.services.chats.listing import MAX_PAGE
from wagate.session_ids import SessionIdField

_SESSION = fields.String(load_default=None, validate=SessionIdField(),
                         metadata={"description": "the session; may be left out when only one is visible"})


def _flag(**kwargs: Any) -> fields.Boolean:
    return fields.Boolean(truthy={True, "true"}, falsy={False, "false"}, **kwargs)


class ChatsQuerySchema(Schema):
    session_id = _SESSION
    archived = _flag(load_default=None, allow_none=True,
                     metadata={"description": "false hides archived chats, true shows only them"})
    limit = fields.Integer(load_default=30, validate=validate.Range(1, MAX_PAGE))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class ChatMessagesQuerySchema(Schema):
    session_id = _SESSION
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))


class ChatSessionQuerySchema(Schema):
    session_id = _SESSION


class ReadSchema(Schema):
    session_id = _SESSION
    message_ids = fields.List(fields.String(validate=validate.Length(1, 128)), load_default=None,
                              validate=validate.Length(1, 500),
                              metadata={"description": "WhatsApp ids of received messages; none: the whole chat"})


class MuteSchema(Schema):
    session_id = _SESSION
    until = fields.AwareDateTime(load_default=None, metadata={"description": "none: muted for ever"})


class ChatPresenceSchema(Schema):
    session_id = _SESSION
    state = fields.String(required=True, validate=validate.OneOf(("typing", "recording", "paused")))


class PresenceSchema(Schema):
    available = fields.Boolean(required=True, truthy={True}, falsy={False})


class CheckSchema(Schema):
    session_id = _SESSION
    phones = fields.Raw(required=True, metadata={"type": "array", "items": {"type": "string"},
                                                 "description": "1 to 50 international numbers"})


class PictureQuerySchema(Schema):
    session_id = _SESSION
    preview = _flag(load_default=False)


class LidQuerySchema(Schema):
    session_id = _SESSION
    phone = fields.String(load_default=None, validate=validate.Length(1, 64))
    lid = fields.String(load_default=None, validate=validate.Length(1, 128))


class ProfileSchema(Schema):
    push_name = fields.String(load_default=None, validate=validate.Length(1, 25))  # WhatsApp's limit
    about = fields.String(load_default=None, validate=validate.Length(0, 139))  # WhatsApp's limit
    picture = fields.String(load_default=None, metadata={"description": "a JPEG, base64"})


# --- answers ------------------------------------------------------------------------------------------------


class ChatSchema(Schema):
    chat = fields.Function(lambda e: e.chat.jid)
    chat_lid = fields.Function(lambda e: e.chat.lid, allow_none=True)
    name = fields.String(allow_none=True)
    unread_count = fields.Function(lambda e: e.chat.unread_count)
    archived = fields.Function(lambda e: e.chat.archived)
    pinned = fields.Function(lambda e: e.chat.pinned)
    muted_until = fields.Function(lambda e: activity.muted_until_of(e.chat), allow_none=True,
                                  metadata={"description": "seconds since the epoch; -1 for ever; null: not muted"})
    last_message_at = fields.Function(lambda e: e.chat.last_message_at.isoformat() if e.chat.last_message_at
                                      else None, allow_none=True)
    last_message = fields.Nested(MessageSchema, allow_none=True)


class ChatPageSchema(Schema):
    items = fields.List(fields.Nested(ChatSchema))
    next_cursor = fields.String(allow_none=True)


class ChatMessagePageSchema(Schema):
    items = fields.List(fields.Nested(MessageSchema))
    next_cursor = fields.String(allow_none=True)


class ChatStateSchema(Schema):
    """A chat's state after a change (the `data` of `chat.updated` too)."""

    chat = fields.String(attribute="jid")
    chat_lid = fields.String(attribute="lid", allow_none=True)
    unread_count = fields.Integer()
    archived = fields.Boolean()
    pinned = fields.Boolean()
    muted_until = fields.Function(activity.muted_until_of, allow_none=True)


class CheckedSchema(Schema):
    phone = fields.String()
    on_whatsapp = fields.Boolean()
    jid = fields.String(allow_none=True, metadata={"description": "where to send: WhatsApp's JID for the number"})


class UserInfoSchema(Schema):
    jid = fields.String()
    about = fields.String(allow_none=True)
    picture_id = fields.String(allow_none=True)
    verified_name = fields.String(allow_none=True)
    lid = fields.String(allow_none=True)
    devices = fields.List(fields.String())


class PictureSchema(Schema):
    url = fields.String()
    id = fields.String()
    type = fields.String()


class BusinessSchema(Schema):
    jid = fields.String()
    email = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    website = fields.List(fields.String())
    category = fields.String(allow_none=True)


class BlocklistSchema(Schema):
    blocked = fields.List(fields.String())


class LidSchema(Schema):
    phone = fields.String(allow_none=True)
    lid = fields.String(allow_none=True)


class PresenceAnswerSchema(Schema):
    available = fields.Boolean()


class ChatPresenceAnswerSchema(Schema):
    chat = fields.String()
    state = fields.String()


class ProfileAnswerSchema(Schema):
    push_name = fields.String(allow_none=True)
    about = fields.String(allow_none=True)
    picture_id = fields.String(allow_none=True)


class OwnProfileSchema(Schema):
    jid = fields.String()
    phone = fields.String()
    lid = fields.String(allow_none=True)
    push_name = fields.String(allow_none=True)
    platform = fields.String(allow_none=True)
    about = fields.String(allow_none=True)
    picture = fields.Nested(PictureSchema, allow_none=True)
