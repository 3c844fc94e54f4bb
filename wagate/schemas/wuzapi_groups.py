"""The documented shapes of wuzapi's `/group/*` under `/wa`: its bodies and whatsmeow's `GroupInfo` as wuzapi
answers it (see wagate.web.routes.wuzapi.group); for the OpenAPI document and the tests that hold answers to it."""

from __future__ import annotations

from marshmallow import Schema, fields

from wagate.schemas.wuzapi import _answer

S, B, Int = fields.String, fields.Boolean, fields.Integer


class GroupJidBodySchema(Schema):
    GroupJID = S(required=True)


class GroupNameBodySchema(Schema):
    GroupJID = S(required=True)
    Name = S(required=True)


class GroupTopicBodySchema(Schema):
    GroupJID = S(required=True)
    Topic = S(required=True)


class GroupPhotoBodySchema(Schema):
    GroupJID = S(required=True)
    Image = S(required=True, metadata={"description": "data:image/jpeg;base64,…"})


class GroupAnnounceBodySchema(Schema):
    GroupJID = S(required=True)
    Announce = B(required=True)


class GroupLockedBodySchema(Schema):
    GroupJID = S(required=True)
    Locked = B(required=True)


class GroupEphemeralBodySchema(Schema):
    GroupJID = S(required=True)
    Duration = S(required=True, metadata={"description": "24h, 7d, 90d or off"})


class GroupCreateBodySchema(Schema):
    Name = S(required=True)
    Participants = fields.List(S(), required=True)


class GroupParticipantsBodySchema(Schema):
    GroupJID = S(required=True)
    Phone = fields.List(S(), required=True)
    Action = S(required=True, metadata={"description": "add, remove, promote or demote"})


class GroupCodeBodySchema(Schema):
    Code = S(required=True, metadata={"description": "the invite link or its code"})


class GroupParticipantSchema(Schema):
    JID = S(required=True)
    LID = S(required=True)
    IsAdmin = B(required=True)
    IsSuperAdmin = B(required=True)
    DisplayName = S(required=True)


class GroupInfoSchema(Schema):
    JID = S(required=True)
    OwnerJID = S(required=True)
    Name = S(required=True)
    Topic = S(required=True)
    IsLocked = B(required=True)
    IsAnnounce = B(required=True)
    IsEphemeral = B(required=True)
    DisappearingTimer = Int(required=True)
    IsJoinApprovalRequired = B(required=True)
    IsParent = B(required=True)
    LinkedParentJID = S(required=True)
    GroupCreated = Int(required=True)
    Participants = fields.List(fields.Nested(GroupParticipantSchema), required=True)


class GroupListSchema(Schema):
    Groups = fields.List(fields.Nested(GroupInfoSchema), required=True)


class InviteLinkSchema(Schema):
    InviteLink = S(required=True)


class PhotoSetSchema(Schema):
    Details = S(required=True)
    PictureID = S(required=True)


class ParticipantOutcomeSchema(Schema):
    JID = S(required=True)
    Outcome = S(required=True, metadata={"description": "done, invited, not_on_whatsapp, already_member, "
                                                        "not_member or refused"})
    Error = Int(required=True, metadata={"description": "WhatsApp's code; 0 when done"})
    InviteCode = S(required=True)


class ParticipantsChangedSchema(Schema):
    Details = S(required=True)
    Participants = fields.List(fields.Nested(ParticipantOutcomeSchema), required=True)


class JoinedSchema(Schema):
    Details = S(required=True)
    GroupJID = S(required=True)


GroupListAnswer = _answer(GroupListSchema, "GroupList")
GroupInfoAnswer = _answer(GroupInfoSchema, "GroupInfo")
InviteLinkAnswer = _answer(InviteLinkSchema, "InviteLink")
PhotoSetAnswer = _answer(PhotoSetSchema, "PhotoSet")
ParticipantsChangedAnswer = _answer(ParticipantsChangedSchema, "ParticipantsChanged")
JoinedAnswer = _answer(JoinedSchema, "Joined")
