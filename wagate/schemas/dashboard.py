"""Queries and answers of the dashboard data API (`/api/dashboard/stats`, `/api/dashboard/charts`)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wagate.services.operations.metrics import RANGES


class ChartsQuerySchema(Schema):
    range = fields.String(load_default="week", validate=validate.OneOf(list(RANGES)))


class StatsSchema(Schema):
    """Documentation of `stats` (the service builds plain data; this names its fields for the spec)."""

    sessions = fields.List(fields.Dict())
    sessions_by_status = fields.Dict(keys=fields.String(), values=fields.Integer())
    connected = fields.Integer()
    queue = fields.Dict()
    today = fields.Dict()
    messages_sent_today = fields.Integer()
    success_rate = fields.Float(allow_none=True)
    active_broadcasts = fields.Integer()
    broadcasts = fields.Dict(keys=fields.String(), values=fields.Integer())
    webhooks = fields.Dict()
    system = fields.Dict()
    definitions = fields.Dict(keys=fields.String(), values=fields.String())  # what queue and sent_today count


class ChartsSchema(Schema):
    range = fields.String()
    bucket = fields.String()
    timezone = fields.String()
    labels = fields.List(fields.String())
    messages = fields.Dict(keys=fields.String(), values=fields.List(fields.Integer()))
    top_contacts = fields.List(fields.Dict())
    failure_reasons = fields.List(fields.Dict())
    response_time = fields.List(fields.Float(allow_none=True))
    api_usage = fields.List(fields.Dict())
