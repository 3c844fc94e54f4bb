"""Request bodies of the simulator's phone-side routes (WA_TRANSPORT=simulator only).

Each schema loads into the keyword arguments of the `PhoneSide` method (wagate/transport/simulator/phone.py)
the bridge calls for the `simulator_control` job, so the job's params pass straight through:

    route                                   action               params
    /simulator/sessions/{id}/scan           scan                 phone?, push_name?, platform?, code?
    /simulator/sessions/{id}/pair-code      enter_pair_code      code, push_name?, platform?
    /simulator/sessions/{id}/inbound        inject_message       from_phone, text?, via_lid?, push_name?,
                                                                 is_group?, type?
    /simulator/sessions/{id}/drop           drop_connection      reconnect, reason?
    /simulator/sessions/{id}/unlink         unlink_from_phone    (none)
    /simulator/sessions/{id}/send-failure   set_send_failure     kind (transient | permanent | none), times
    /simulator/sessions/{id}/send-limit     set_send_limit       seconds (0 lifts it), code (463 | 429)
    /simulator/sessions/{id}/silent         go_silent            (none)
    /simulator/not-on-whatsapp              set_not_on_whatsapp  phone, not_on   (session id "*", every shard)

Omitted optional fields are left out of params, so the simulator's own defaults apply.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from wagate.db.enums import MessageType

_PUNCTUATION = re.compile(r"[\s+\-().]")
SEND_FAILURE_KINDS = ("transient", "permanent", "none")


class Phone(fields.String):
    """A phone number as people type it, loaded as its digits (country code first, no leading 0)."""

    default_error_messages = {"phone": "expects an international number with its country code, 8-15 digits"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        digits = _PUNCTUATION.sub("", super()._deserialize(value, attr, data, **kwargs))
        if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15 and digits[0] != "0"):
            raise self.make_error("phone")
        return digits


class _Params(Schema):
    """Drops the optional fields the caller left out, so they never override the simulator's defaults."""

    @post_load
    def _given_only(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}


_NAME = validate.Length(min=1, max=191)
_PLATFORM = validate.Length(min=1, max=32)


class ScanSchema(_Params):
    phone = Phone(load_default=None)
    push_name = fields.String(load_default=None, validate=_NAME)
    platform = fields.String(load_default=None, validate=_PLATFORM)
    code = fields.String(load_default=None, validate=validate.Length(min=1, max=1024))  # only this QR code


class PairCodeSchema(_Params):
    code = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}$", error="expects 8 characters, as XXXX-XXXX"),
    )
    push_name = fields.String(load_default=None, validate=_NAME)
    platform = fields.String(load_default=None, validate=_PLATFORM)


class InboundSchema(_Params):
    from_phone = Phone(data_key="from", required=True)
    text = fields.String(load_default=None, validate=validate.Length(max=65536))
    via_lid = fields.Boolean(load_default=None)
    push_name = fields.String(load_default=None, validate=_NAME)
    is_group = fields.Boolean(load_default=None)
    type = fields.String(load_default=None, validate=validate.OneOf([kind.value for kind in MessageType]))


class DropSchema(_Params):
    reconnect = fields.Boolean(load_default=True)
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=255))


class UnlinkSchema(_Params):
    pass


class SendFailureSchema(_Params):
    kind = fields.String(required=True, validate=validate.OneOf(SEND_FAILURE_KINDS))
    times = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=10_000))


class SendLimitSchema(_Params):
    seconds = fields.Float(required=True, validate=validate.Range(min=0, max=86_400))
    code = fields.Integer(load_default=463, strict=True, validate=validate.OneOf((463, 429)))


class SilentSchema(_Params):
    pass


class NotOnWhatsAppSchema(_Params):
    phone = Phone(required=True)
    not_on = fields.Boolean(load_default=True)  # false puts the number back on WhatsApp


def load(schema: type[Schema], body: Any) -> dict[str, Any]:
    """Load a body; a JSON value that is not an object fails like any other bad body (400 with details)."""
    if not isinstance(body, dict):
        raise ValidationError({"_schema": ["expects a JSON object"]})
    loaded: dict[str, Any] = schema().load(body)
    return loaded
