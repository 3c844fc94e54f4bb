"""Request bodies of the simulated contacts' routes (WA_TRANSPORT=simulator only).

Each loads into the keyword arguments of the `SimulatorIncoming` method (wagate/transport/simulator_incoming.py)
the bridge calls for the `simulator_control` job:

    route                                   action               params
    /simulator/sessions/{id}/receive        contact_sends        from, type, text?, caption?, media fields, location,
                                                                 contacts, poll, link, quoted_message_id, mentions …
    /simulator/sessions/{id}/react          contact_reacts       from, message_id, emoji ("" takes it back)
    /simulator/sessions/{id}/edit           contact_edits        from, message_id, text
    /simulator/sessions/{id}/revoke         contact_revokes      from, message_id
    /simulator/sessions/{id}/vote           contact_votes        from, message_id, options
    /simulator/sessions/{id}/presence       contact_presence     from, state, group?
    /simulator/sessions/{id}/history        phone_sends_history  messages [{from, type, days_ago, from_me, …}]
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from wagate.schemas.simulator import Phone, _Params

SENDABLE_KINDS = ("text", "image", "video", "audio", "document", "sticker", "location", "live_location", "contact",
                  "poll", "unknown")
PRESENCE_STATES = ("available", "unavailable", "composing", "recording", "paused")
MAX_MEDIA_BYTES = 16 * 1024 * 1024  # what WhatsApp lets a phone send as a video or audio
_TEXT = validate.Length(max=65536)
_ID = validate.Length(min=1, max=128)


class _Where(_Params):
    from_phone = Phone(data_key="from", required=True)
    via_lid = fields.Boolean(load_default=None)
    group = fields.String(load_default=None, validate=validate.Regexp(r"^\d{6,30}(-\d+)?@g\.us$",
                                                                      error="expects a group JID, digits@g.us"))


class _Card(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=191))
    phones = fields.List(Phone(), load_default=list, validate=validate.Length(max=10))


class _Link(Schema):
    url = fields.Url(required=True)
    title = fields.String(load_default=None, validate=validate.Length(max=512))
    description = fields.String(load_default=None, validate=validate.Length(max=1024))


class ContactSendsSchema(_Where):
    kind = fields.String(data_key="type", load_default="text", validate=validate.OneOf(SENDABLE_KINDS))
    text = fields.String(load_default=None, validate=_TEXT)  # the text, or a medium's caption
    push_name = fields.String(load_default=None, validate=validate.Length(min=1, max=191))
    quoted_message_id = fields.String(load_default=None, validate=_ID)
    mentions = fields.List(Phone(), load_default=None, validate=validate.Length(max=50))
    forwarded = fields.Boolean(load_default=None)
    data = fields.String(data_key="data_base64", load_default=None)  # the medium's bytes; else `size` made-up ones
    size = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1, max=MAX_MEDIA_BYTES))
    mimetype = fields.String(load_default=None, validate=validate.Length(min=3, max=127))
    filename = fields.String(load_default=None, validate=validate.Length(min=1, max=255))
    width = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1, max=20000))
    height = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=1, max=20000))
    seconds = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=0, max=86400))
    ptt = fields.Boolean(load_default=None)
    latitude = fields.Float(load_default=None, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(load_default=None, validate=validate.Range(min=-180, max=180))
    name = fields.String(load_default=None, validate=validate.Length(max=255))
    address = fields.String(load_default=None, validate=validate.Length(max=1024))
    contacts = fields.List(fields.Nested(_Card), load_default=None, validate=validate.Length(min=1, max=20))
    question = fields.String(load_default=None, validate=validate.Length(min=1, max=255))
    options = fields.List(fields.String(validate=validate.Length(min=1, max=100)), load_default=None,
                          validate=validate.Length(min=2, max=12))
    selectable_count = fields.Integer(load_default=None, strict=True, validate=validate.Range(min=0, max=12))
    link = fields.Nested(_Link, load_default=None)

    @validates_schema
    def _kind_needs(self, data: dict[str, Any], **kwargs: Any) -> None:
        """What each kind cannot go without, refused here with the field to add rather than by the phone."""
        kind = data.get("kind", "text")
        needs = {"location": ("latitude", "longitude"), "live_location": ("latitude", "longitude"),
                 "contact": ("contacts",), "poll": ("question", "options")}.get(kind, ())
        missing = {name: [f"a {kind} message needs it"] for name in needs if data.get(name) is None}
        if missing:
            raise ValidationError(missing)

    @post_load
    def _decoded(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("data") is not None:
            try:
                blob = base64.b64decode(data["data"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValidationError("expects the medium's bytes in base64", "data_base64") from exc
            if not blob or len(blob) > MAX_MEDIA_BYTES:
                raise ValidationError(f"expects 1 to {MAX_MEDIA_BYTES} bytes", "data_base64")
            data["data"] = blob
        return data


class ReactSchema(_Where):
    message_id = fields.String(required=True, validate=_ID)
    emoji = fields.String(load_default="👍", validate=validate.Length(max=16))  # "" takes the reaction back


class EditSchema(_Where):
    message_id = fields.String(required=True, validate=_ID)
    text = fields.String(required=True, validate=validate.Length(min=1, max=65536))


class RevokeSchema(_Where):
    message_id = fields.String(required=True, validate=_ID)


class VoteSchema(_Where):
    message_id = fields.String(required=True, validate=_ID)
    options = fields.List(fields.String(validate=validate.Length(min=1, max=100)), required=True,
                          validate=validate.Length(max=12))  # [] takes the vote back


class ContactPresenceSchema(_Params):
    from_phone = Phone(data_key="from", required=True)
    state = fields.String(required=True, validate=validate.OneOf(PRESENCE_STATES))
    group = fields.String(load_default=None, validate=validate.Regexp(r"^\d{6,30}(-\d+)?@g\.us$",
                                                                      error="expects a group JID, digits@g.us"))


class _OldMessage(ContactSendsSchema):
    days_ago = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=3650))
    from_me = fields.Boolean(load_default=False)


class HistorySchema(Schema):
    messages = fields.List(fields.Nested(_OldMessage), required=True, validate=validate.Length(min=0, max=1000))
    sync_type = fields.String(load_default="initial_bootstrap",
                              validate=validate.OneOf(["initial_bootstrap", "recent", "full", "on_demand"]))
    progress = fields.Integer(load_default=100, strict=True, validate=validate.Range(min=0, max=100))


# route path → (body, the SimulatorIncoming method it plays, the answer's message)
CONTACT_PLAYS = {
    "receive": (ContactSendsSchema, "contact_sends", "A contact's message is on its way to the session"),
    "react": (ReactSchema, "contact_reacts", "A contact reacts to a message"),
    "edit": (EditSchema, "contact_edits", "A contact edits a message"),
    "revoke": (RevokeSchema, "contact_revokes", "A contact deletes a message for everyone"),
    "vote": (VoteSchema, "contact_votes", "A contact votes on a poll"),
    "presence": (ContactPresenceSchema, "contact_presence", "A contact's presence changes"),
    "history": (HistorySchema, "phone_sends_history", "The phone sends its history"),
}
