"""The query of `GET /api/audit-logs`: every filter optional; `from`/`to` are dates or date-times."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from wagate.db.enums import ActorType
from wagate.db.models_identity import AUDIT_RESULTS

MAX_PAGE_SIZE = 200


class AuditQuerySchema(Schema):
    action = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    actor_type = fields.String(load_default=None, validate=validate.OneOf([a.value for a in ActorType]))
    actor_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    target_type = fields.String(load_default=None, validate=validate.Length(min=1, max=32))
    target_id = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    result = fields.String(load_default=None, validate=validate.OneOf(AUDIT_RESULTS))
    from_ = fields.String(data_key="from", load_default=None, validate=validate.Length(min=10, max=40))
    to = fields.String(load_default=None, validate=validate.Length(min=10, max=40))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))
