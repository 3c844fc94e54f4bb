"""Bodies, queries and answers of the internal reseller API (`/internal/*`, seeds 001 and 002).

`expires_at` takes an ISO 8601 date-time (a zone, or none: then it is wall-clock time in the gateway's
TIMEZONE), a bare date (the end of that day there), or null (no expiry); see wagate.services.identity.tenants.
Optional body fields that are left out are left unchanged on an upsert or update.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from wagate.services.identity.tenants import MAX_PAGE_SIZE, TenantView
from wagate.services.sessions.lifecycle import is_expired

_SOURCE = validate.Length(min=1, max=100)
_COUNT = validate.Range(min=0, max=2**53)
EXPIRES_AT_RULE = "expects an ISO 8601 date-time (2026-12-31T23:59:59Z), a date (2026-12-31) or null"


class ExpiresAt(fields.Field):
    """A date-time (aware or naive) or a date; the service gives naive ones the gateway's time zone."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime | date:
        if not isinstance(value, str) or not 10 <= len(value) <= 40:
            raise ValidationError(EXPIRES_AT_RULE)
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError as exc:
            raise ValidationError(EXPIRES_AT_RULE) from exc


class _UserFields(Schema):
    source = fields.String(validate=_SOURCE)
    name = fields.String(allow_none=True, validate=validate.Length(max=191))
    provider = fields.String(allow_none=True, validate=validate.Length(max=64))
    expires_at = ExpiresAt(allow_none=True)
    max_sessions = fields.Integer(strict=True, allow_none=True, validate=_COUNT)
    max_messages = fields.Integer(strict=True, allow_none=True, validate=_COUNT)
    created_by = fields.String(allow_none=True, validate=validate.Length(max=191))


class UserUpsertSchema(_UserFields):
    """`POST /internal/users`."""

    user_id = fields.String(required=True, validate=validate.Length(min=1, max=191))


class UserUpdateSchema(_UserFields):
    """`PUT /internal/users/{user_id}`; `source` moves the user to another service (global keys only)."""


class UsersQuerySchema(Schema):
    """`GET /internal/users?source=&provider=&page=&limit=`."""

    source = fields.String(load_default=None, validate=_SOURCE)
    provider = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


class SourceQuerySchema(Schema):
    """`?source=`: which service's user, when a global key names a user_id that several services have."""

    source = fields.String(load_default=None, validate=_SOURCE)


class SubscriptionSchema(Schema):
    status = fields.Function(lambda tenant: "expired" if is_expired(tenant) else "active")
    active = fields.Function(lambda tenant: not is_expired(tenant))
    expires_at = fields.AwareDateTime(allow_none=True)
    max_sessions = fields.Integer(allow_none=True)
    max_messages = fields.Integer(allow_none=True)
    messages_sent = fields.Integer()


class KeyInfoSchema(Schema):
    """A customer API key without its secret: the visible prefix and when it was made and last used."""

    prefix = fields.String()
    role = fields.String()
    created_at = fields.AwareDateTime()
    last_used_at = fields.AwareDateTime(allow_none=True)


class UserSchema(Schema):
    """A tenant as the internal API shows it: who, its subscription, how many sessions it has."""

    user_id = fields.Function(lambda view: view.tenant.user_id)
    source = fields.Function(lambda view: view.tenant.source_service)
    name = fields.Function(lambda view: view.tenant.name)
    provider = fields.Function(lambda view: view.tenant.provider)
    created_by = fields.Function(lambda view: view.tenant.created_by)
    created_at = fields.Function(lambda view: view.tenant.created_at.isoformat())
    updated_at = fields.Function(lambda view: view.tenant.updated_at.isoformat())
    subscription = fields.Function(lambda view: SubscriptionSchema().dump(view.tenant))
    session_count = fields.Integer()


def user(view: TenantView) -> dict[str, Any]:
    return UserSchema().dump(view)


def key_info(view: TenantView) -> dict[str, Any] | None:
    return None if view.key is None else KeyInfoSchema().dump(view.key)
