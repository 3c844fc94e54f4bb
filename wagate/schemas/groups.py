"""Bodies and answers of the group and community API (`/api/sessions/{session_id}/groups…`, `…/communities…`).

Participants are given as phone numbers (in any form people type) or `…@s.whatsapp.net` JIDs, and answered as
JIDs; a group is named by its JID (`120363…@g.us`, or the digits alone).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

# WhatsApp's own limits: a subject of 100 characters, a description of 2048, at most 1024 members.
SUBJECT = validate.Length(min=1, max=100)
DESCRIPTION = validate.Length(max=2048)
MAX_PARTICIPANTS = 1024
# The disappearing-message timers WhatsApp offers (off, 24 hours, 7 days, 90 days), in seconds.
DISAPPEARING = (0, 86_400, 604_800, 7_776_000)
MAX_PICTURE_BYTES = 5 * 1024 * 1024


def _flag(**kwargs: Any) -> fields.Boolean:
    """JSON true or false only."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


def _participants(**kwargs: Any) -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                       validate=validate.Length(min=1, max=MAX_PARTICIPANTS), **kwargs)


class CreateGroupSchema(Schema):
    subject = fields.String(required=True, validate=SUBJECT)
    participants = _participants(load_default=list)
    community = fields.String(load_default=None, validate=validate.Length(max=64))  # link the new group to it


class CreateCommunitySchema(Schema):
    subject = fields.String(required=True, validate=SUBJECT)
    description = fields.String(load_default=None, validate=DESCRIPTION)


class UpdateGroupSchema(Schema):
    """Any subset; what is left out stays as it is."""

    subject = fields.String(validate=SUBJECT)
    description = fields.String(validate=DESCRIPTION)
    announce = _flag()  # only admins send messages
    locked = _flag()  # only admins edit the group's subject, description and picture
    join_approval = _flag()  # admins approve who joins by link
    disappearing = fields.Integer(strict=True, validate=validate.OneOf(DISAPPEARING))

    @validates_schema
    def _something(self, data: dict[str, Any], **_: Any) -> None:
        if not data:
            raise ValidationError("give at least one of subject, description, announce, locked, join_approval, "
                                  "disappearing", "_schema")


class GroupPictureSchema(Schema):
    image = fields.String(required=True, validate=validate.Length(min=4, max=MAX_PICTURE_BYTES * 4 // 3 + 4))


class ParticipantsSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(("add", "remove", "promote", "demote")))
    participants = _participants(required=True)


class JoinRequestsSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(("approve", "reject")))
    participants = _participants(required=True)


class InviteSchema(Schema):
    """An invite: the link (`https://chat.whatsapp.com/…`) or its code alone."""

    link = fields.String(required=True, validate=validate.Length(min=6, max=200))


class LinkGroupSchema(Schema):
    group = fields.String(required=True, validate=validate.Length(min=1, max=64))


# --- answers ---------------------------------------------------------------------------------------------


class GroupSettingsSchema(Schema):
    announce = fields.Boolean()
    locked = fields.Boolean()
    join_approval = fields.Boolean()
    disappearing = fields.Integer(metadata={"description": "seconds a message lives; 0: off"})


class GroupParticipantSchema(Schema):
    jid = fields.String()
    phone = fields.String(allow_none=True)
    lid = fields.String(allow_none=True)
    is_admin = fields.Boolean()
    is_super_admin = fields.Boolean(metadata={"description": "the group's owner"})
    name = fields.String(allow_none=True)


class GroupSchema(Schema):
    jid = fields.String()
    subject = fields.String()
    description = fields.String()
    owner = fields.String(allow_none=True)
    created_at = fields.Integer(metadata={"description": "seconds since the epoch"})
    is_community = fields.Boolean()
    community = fields.String(allow_none=True, metadata={"description": "the community it is linked to"})
    settings = fields.Nested(GroupSettingsSchema)
    participants = fields.List(fields.Nested(GroupParticipantSchema))
    participant_count = fields.Integer()
    invite_link = fields.String(allow_none=True, metadata={
        "description": "only when the session's number is an admin (one group's answer only)"})


class ParticipantResultSchema(Schema):
    jid = fields.String()
    outcome = fields.String(metadata={"description": "done | invited | not_on_whatsapp | already_member | "
                                                     "not_member | refused"})
    code = fields.Integer(metadata={"description": "WhatsApp's own code for this participant"})
    invite_code = fields.String(allow_none=True)
    invite_expires = fields.Integer(allow_none=True)


class JoinRequestSchema(Schema):
    jid = fields.String()
    requested_at = fields.Integer()


class InviteLinkSchema(Schema):
    jid = fields.String()
    invite_link = fields.String()


class JoinedSchema(Schema):
    jid = fields.String()


class PictureSetSchema(Schema):
    jid = fields.String()
    picture_id = fields.String()


class GroupRefSchema(Schema):
    jid = fields.String()
    community = fields.String(allow_none=True)


# --- the customer API's plain objects (/v1) ----------------------------------------------------------------------


class CustomerGroupsSchema(Schema):
    groups = fields.List(fields.Nested(GroupSchema), required=True)
    count = fields.Integer(required=True)


class CustomerGroupSchema(Schema):
    group = fields.Nested(GroupSchema, required=True)


class CustomerParticipantsSchema(Schema):
    jid = fields.String(required=True)
    action = fields.String(required=True)
    results = fields.List(fields.Nested(ParticipantResultSchema), required=True)
