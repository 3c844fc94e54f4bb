"""Bodies of the simulator's group routes: what the other members of a simulated group do (simulator only).

    route                                              action                params
    /simulator/sessions/{id}/groups/added              group_add_session     from_phone, subject?, members?, group?
    /simulator/sessions/{id}/groups/member-action      group_member_action   group, from_phone, action, participants
    /simulator/sessions/{id}/groups/member-update      group_member_update   group, from_phone, subject?, …
    /simulator/sessions/{id}/groups/join-request       group_join_request    group, from_phone
    /simulator/sessions/{id}/groups/privacy            group_privacy         phone, invite_only
"""

from __future__ import annotations

from marshmallow import fields, validate

from wagate.schemas.groups import DESCRIPTION, DISAPPEARING, SUBJECT
from wagate.schemas.simulator import Phone, _Params

_GROUP = validate.Regexp(r"^\d{5,20}(?:-\d{5,20})?@g\.us$", error="expects a group JID, <digits>@g.us")


class AddedSchema(_Params):
    from_phone = Phone(data_key="from", required=True)
    subject = fields.String(load_default=None, validate=SUBJECT)
    members = fields.List(Phone(), load_default=None, validate=validate.Length(max=256))
    group = fields.String(load_default=None, validate=_GROUP)


class MemberActionSchema(_Params):
    group = fields.String(required=True, validate=_GROUP)
    from_phone = Phone(data_key="from", required=True)
    action = fields.String(required=True, validate=validate.OneOf(("add", "remove", "promote", "demote")))
    participants = fields.List(Phone(), required=True, validate=validate.Length(min=1, max=256))


class MemberUpdateSchema(_Params):
    group = fields.String(required=True, validate=_GROUP)
    from_phone = Phone(data_key="from", required=True)
    subject = fields.String(load_default=None, validate=SUBJECT)
    description = fields.String(load_default=None, validate=DESCRIPTION)
    announce = fields.Boolean(load_default=None)
    locked = fields.Boolean(load_default=None)
    join_approval = fields.Boolean(load_default=None)
    disappearing = fields.Integer(load_default=None, strict=True, validate=validate.OneOf(DISAPPEARING))


class AskToJoinSchema(_Params):
    group = fields.String(required=True, validate=_GROUP)
    from_phone = Phone(data_key="from", required=True)


class PrivacySchema(_Params):
    phone = Phone(required=True)
    invite_only = fields.Boolean(load_default=True)
