"""The documented shapes of wuzapi's user info, avatar, presence, LID, markread and chat presence routes under
`/wa` (wuzapi's API.md), for the OpenAPI document and the tests that hold real answers to it."""

from __future__ import annotations

from marshmallow import Schema, fields

from wagate.schemas.wuzapi import _answer

S = fields.String


class PhoneListBodySchema(Schema):
    Phone = fields.List(S(), required=True)


class AvatarBodySchema(Schema):
    Phone = S(required=True)
    Preview = fields.Boolean()


class PresenceBodySchema(Schema):
    type = S(required=True, metadata={"enum": ["available", "unavailable"]})


class MarkReadBodySchema(Schema):
    Id = fields.List(S(), required=True)
    Chat = S(required=True)
    Sender = S()


class ChatPresenceBodySchema(Schema):
    Phone = S(required=True)
    State = S(required=True, metadata={"enum": ["composing", "paused"]})
    Media = S(metadata={"description": "audio: recording"})


class VerifiedNameDetailsSchema(Schema):
    verifiedName = S()


class VerifiedNameSchema(Schema):
    Details = fields.Nested(VerifiedNameDetailsSchema)


class WuzapiUserSchema(Schema):
    Devices = fields.List(S(), required=True)
    PictureID = S(required=True)
    Status = S(required=True)
    VerifiedName = fields.Nested(VerifiedNameSchema, allow_none=True, required=True)


class WuzapiUsersSchema(Schema):
    Users = fields.Dict(keys=S(), values=fields.Nested(WuzapiUserSchema), required=True)


class WuzapiAvatarSchema(Schema):
    URL = S(required=True)
    ID = S(required=True)
    Type = S(required=True)
    DirectPath = S(required=True)


class WuzapiLidSchema(Schema):
    Phone = S(required=True)
    LID = S(required=True)


UsersAnswer = _answer(WuzapiUsersSchema, "Users")
AvatarAnswer = _answer(WuzapiAvatarSchema, "Avatar")
LidAnswer = _answer(WuzapiLidSchema, "Lid")
