"""Request bodies and answers of /api/exports: a broker (NATS JetStream or RabbitMQ) that receives events."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from wagate.db.enums import BrokerKind
from wagate.schemas.webhooks import Events
from wagate.services.exports.brokers import url_problem
from wagate.session_ids import SessionIdField

URL_MAX = 2048
DEFAULT_TARGET = {BrokerKind.NATS: "WAGATE", BrokerKind.RABBITMQ: "wagate"}
# A NATS stream name and a RabbitMQ exchange name alike: no dots, spaces or wildcards.
TARGET = validate.Regexp(r"^[A-Za-z0-9_-]{1,64}$", error="expects 1 to 64 letters, digits, '_' or '-'")
PREFIX = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32})*$",
                         error="expects dot-separated words of letters, digits, '_' or '-' (e.g. wagate)")


class ExportUpdateSchema(Schema):
    url = fields.String(validate=validate.Length(min=1, max=URL_MAX),
                        metadata={"description": "the broker's URL; a password in it is stored encrypted"})
    target = fields.String(validate=TARGET, metadata={"description": "NATS: the JetStream stream; RabbitMQ: the "
                                                      "topic exchange (created if missing)"})
    prefix = fields.String(validate=PREFIX, metadata={"description": "first words of every subject / routing key"})
    events = Events()
    is_active = fields.Boolean()
    description = fields.String(allow_none=True, validate=validate.Length(max=255))


class ExportCreateSchema(ExportUpdateSchema):
    kind = fields.Enum(BrokerKind, by_value=True, required=True)
    url = fields.String(required=True, validate=validate.Length(min=1, max=URL_MAX))
    target = fields.String(load_default=None, validate=TARGET)
    prefix = fields.String(load_default="wagate", validate=PREFIX)
    events = Events(load_default="*")
    tenant_id = fields.Integer(allow_none=True, load_default=None)
    session_id = fields.String(allow_none=True, load_default=None, validate=SessionIdField())

    @validates_schema
    def _url_fits_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "kind" in data and "url" in data and (problem := url_problem(data["kind"], data["url"])):
            raise ValidationError(problem, "url")

    @post_load
    def _default_target(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if data.get("target") is None:
            data["target"] = DEFAULT_TARGET[data["kind"]]
        return data


class ExportStatusSchema(Schema):
    up = fields.Boolean(required=True, allow_none=True, metadata={"description": "null until its reader reported"})
    down_for_s = fields.Float(required=True)
    waiting = fields.Integer(required=True, allow_none=True, metadata={"description": "events not yet confirmed"})
    lag_s = fields.Float(required=True, metadata={"description": "age of the oldest event not yet confirmed"})


class ExportSchema(Schema):
    id = fields.Integer(required=True)
    tenant_id = fields.Integer(required=True, allow_none=True)
    session_id = fields.String(required=True, allow_none=True)
    kind = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "without its password"})
    target = fields.String(required=True)
    prefix = fields.String(required=True)
    events = fields.Raw(required=True, metadata={"description": '"*" or a list of event names'})
    is_active = fields.Boolean(required=True)
    description = fields.String(required=True, allow_none=True)
    status = fields.Nested(ExportStatusSchema, required=True, allow_none=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)
