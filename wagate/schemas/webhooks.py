"""Request bodies and queries of /api/webhooks: create, update, deliveries listing and bulk redelivery."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates

from wagate.db.enums import DeliveryStatus, SignatureScheme, WebhookFormat
from wagate.services.events import EVENT_NAMES
from wagate.session_ids import SessionIdField

URL_MAX = 2048  # webhooks.url


class Events(fields.Field):
    """`"*"`, a list of event names, or a comma-separated string of them; stored as "*" or a sorted list."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str] | str:
        names = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValidationError("expects * or a list of event names")
        names = [n for n in names if n]
        if "*" in names:
            return "*"
        unknown = sorted(set(names) - set(EVENT_NAMES))
        if unknown:
            raise ValidationError(f"unknown event(s): {', '.join(unknown)}; expects * or {', '.join(EVENT_NAMES)}")
        if not names:
            raise ValidationError("expects at least one event name, or *")
        return sorted(set(names))


class WebhookUpdateSchema(Schema):
    url = fields.Url(schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=URL_MAX))
    events = Events()
    signature_scheme = fields.Enum(SignatureScheme, by_value=True)
    format = fields.Enum(WebhookFormat, by_value=True)
    is_active = fields.Boolean()
    description = fields.String(allow_none=True, validate=validate.Length(max=255))


class WebhookCreateSchema(WebhookUpdateSchema):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=URL_MAX))
    events = Events(load_default="*")
    secret = fields.String(validate=validate.Length(min=16, max=255))
    tenant_id = fields.Integer(allow_none=True, load_default=None)
    session_id = fields.String(allow_none=True, load_default=None, validate=SessionIdField())


class DeliveriesQuery(Schema):
    status = fields.Enum(DeliveryStatus, by_value=True, load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class RedeliverQuery(Schema):
    status = fields.Enum(DeliveryStatus, by_value=True, required=True)

    @validates("status")
    def _finished(self, value: DeliveryStatus, **kwargs: Any) -> None:
        if value not in (DeliveryStatus.FAILED, DeliveryStatus.EXHAUSTED):
            raise ValidationError("expects failed or exhausted")


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    from wagate.errors import Invalid

    try:
        return schema().load(data if data is not None else {})
    except ValidationError as exc:
        raise Invalid("Invalid request", exc.messages) from exc
