"""Bodies and answers of the customer API (`/v1/*`, seed 002) and of the session-token API (`/wa/*`).

The seed's session body is accepted as it is: `session_name`, `webhook_url`, `events` ("Message,Connected,…"
or a list), `expiration_sec`, `auto_connect`, `auto_read_enabled`, `typing_enabled`, `history`.
`expiration_sec` and `history` are provider options the gateway keeps with the session (`options`) and
shows back; they change nothing in how it connects.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from wagate.db.enums import Direction, MessageStatus
from wagate.db.models_whatsapp import WaSession
from wagate.schemas.credentials import status_view
from wagate.services.identity.tenants import TenantView
from wagate.services.messaging.sending import MAX_PAGE_SIZE
from wagate.services.sessions.lifecycle import is_expired
from wagate.services.webhooks.formats import names_wuzapi
from wagate.session_ids import SessionIdField

OPTION_FIELDS = ("expiration_sec", "history")
_SECONDS = validate.Range(min=0, max=10 * 365 * 86400)


class Events(fields.Field):
    """Event names as a comma string (the seed's "Message,Connected") or a list; names checked by the service."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str | list[str]:
        if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return value
        raise ValidationError("expects a comma-separated string or a list of event names")


class SessionSettingsSchema(Schema):
    """`PUT /v1/sessions/{id}/settings`: every field optional, absent ones unchanged."""

    auto_read_enabled = fields.Boolean()
    typing_enabled = fields.Boolean()
    webhook_url = fields.String(allow_none=True, validate=validate.Length(max=2048))
    events = Events(allow_none=True)


class SessionUpdateSchema(SessionSettingsSchema):
    """`PUT /v1/sessions/{id}`: the settings plus the name, the provider options and `auto_connect`."""

    session_name = fields.String(validate=validate.Length(min=1, max=191))
    expiration_sec = fields.Integer(strict=True, validate=_SECONDS)
    history = fields.Integer(strict=True, validate=validate.Range(min=0, max=1_000_000))
    auto_connect = fields.Boolean()


class SessionCreateSchema(SessionUpdateSchema):
    """`POST /v1/sessions`."""

    session_id = fields.String(validate=SessionIdField())
    session_name = fields.String(required=True, validate=validate.Length(min=1, max=191))
    auto_connect = fields.Boolean(load_default=True)
    auto_read_enabled = fields.Boolean(load_default=False)
    typing_enabled = fields.Boolean(load_default=False)


class ContactsQuerySchema(Schema):
    sync = fields.Boolean(load_default=True)


class MessagesQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in MessageStatus]))
    direction = fields.String(load_default=None, validate=validate.OneOf([d.value for d in Direction]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


def settings_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Loaded body fields → the keyword names of `sessions.update_settings`."""
    names = {"session_name": "name", "events": "webhook_events", "auto_read_enabled": "auto_read_enabled",
             "typing_enabled": "typing_enabled", "webhook_url": "webhook_url"}
    changes = {names[key]: value for key, value in data.items() if key in names}
    if names_wuzapi(data.get("events")):  # genfity-wa's clients subscribe by wuzapi's names and parse its body
        changes["webhook_format"] = "wuzapi"
    return changes


def options_of(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in OPTION_FIELDS if key in data}


class SessionSchema(Schema):
    """A session as `/v1` and `/wa` show it."""

    session_id = fields.String(attribute="id")
    session_name = fields.String(attribute="name", allow_none=True)
    status = fields.String()
    connected = fields.Function(lambda row: status_view(row.status).is_authenticated)
    phone = fields.String(allow_none=True)
    jid = fields.String(allow_none=True)
    push_name = fields.String(allow_none=True)
    platform = fields.String(allow_none=True)
    auto_read_enabled = fields.Boolean()
    typing_enabled = fields.Boolean()
    webhook_url = fields.String(allow_none=True)
    events = fields.List(fields.String(), attribute="webhook_events", allow_none=True)
    options = fields.Function(lambda row: {key: (row.settings or {}).get(key) for key in OPTION_FIELDS})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    connected_at = fields.AwareDateTime(allow_none=True)


class SettingsSchema(Schema):
    """`GET|PUT /v1/sessions/{id}/settings`: the switches, the webhook and the message counters."""

    session_id = fields.String(attribute="id")
    auto_read_enabled = fields.Boolean()
    typing_enabled = fields.Boolean()
    webhook_url = fields.String(allow_none=True)
    events = fields.List(fields.String(), attribute="webhook_events", allow_none=True)
    stats = fields.Function(lambda row: {"messages_sent": row.messages_sent,
                                         "messages_received": row.messages_received,
                                         "messages_failed": row.messages_failed})


class ContactSchema(Schema):
    jid = fields.String()
    phone = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    push_name = fields.String(allow_none=True)
    business_name = fields.String(allow_none=True)
    lid = fields.String(allow_none=True)
    synced_at = fields.AwareDateTime()


def session(row: WaSession) -> dict[str, Any]:
    return SessionSchema().dump(row)


def me(view: TenantView) -> dict[str, Any]:
    """`GET /v1/me`: who the key belongs to and its subscription, including when it has expired."""
    tenant = view.tenant
    expired = is_expired(tenant)
    return {
        "user": {"user_id": tenant.user_id, "source": tenant.source_service, "name": tenant.name,
                 "provider": tenant.provider, "created_at": tenant.created_at.isoformat()},
        "subscription": {"status": "expired" if expired else "active", "active": not expired,
                         "expires_at": tenant.expires_at.isoformat() if tenant.expires_at else None,
                         "max_sessions": tenant.max_sessions, "max_messages": tenant.max_messages,
                         "messages_sent": tenant.messages_sent, "sessions": view.session_count},
    }
