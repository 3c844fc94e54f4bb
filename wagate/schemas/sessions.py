"""Bodies and answers of the dashboard's session API (`/api/sessions/*`) and of `/api/whatsapp/*`.

A session is shown with its status in the one vocabulary (STOPPED, STARTING, SCAN_QR_CODE, WORKING,
FAILED, LOGGED_OUT) exactly as the bridge wrote it; the token is shown only by create and rotate.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from wagate.db.enums import HISTORY_SYNC_MODES, HistorySync, SessionStatus
from wagate.session_ids import SessionIdField

_NAME = validate.Length(min=1, max=191)


def _flag(**kwargs: Any) -> fields.Boolean:
    """JSON true or false only: "on", "yes" or 1 from a careless client is refused, not guessed."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)



# The caller's own session id: `session_id` as on /v1, `id` as the session is shown, `session` as a send names it.
_ID_KEYS = ("session_id", "id", "session")


class CreateSessionSchema(Schema):
    session_id = fields.String(load_default=None, validate=SessionIdField())
    name = fields.String(load_default=None, validate=_NAME)  # the session id when not given
    tenant_id = fields.Integer(load_default=None, strict=True)  # install-wide callers only
    auto_connect = _flag(load_default=True)
    auto_read_enabled = _flag(load_default=False)
    typing_enabled = _flag(load_default=False)
    webhook_url = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2048))
    webhook_events = fields.Raw(load_default=None)
    proxy_url = fields.String(load_default=None, allow_none=True)  # checked by services.sessions.proxy
    reject_calls = _flag(load_default=False)
    reject_call_message = fields.String(load_default=None, allow_none=True)
    history_sync = fields.String(load_default=None, validate=validate.OneOf(HISTORY_SYNC_MODES))  # None: recent

    @pre_load
    def _one_session_id(self, data: Any, **_: Any) -> Any:
        """`id` and `session` are other names of `session_id`; two different ids in one body are refused."""
        if not isinstance(data, dict):
            return data
        given = {key: data[key] for key in _ID_KEYS if key in data}
        if len({repr(value) for value in given.values()}) > 1:
            raise ValidationError(f"give one session id, not {' and '.join(given)}", "session_id")
        data = {key: value for key, value in data.items() if key not in _ID_KEYS}
        if given:
            data["session_id"] = next(iter(given.values()))
        return data


class SettingsSchema(Schema):
    """PUT settings: any subset; omitted fields keep their value, `null` clears the webhook."""

    name = fields.String(validate=_NAME)
    auto_read_enabled = _flag()
    typing_enabled = _flag()
    webhook_url = fields.String(allow_none=True, validate=validate.Length(max=2048))
    webhook_events = fields.Raw(allow_none=True)
    # What of the history the phone sends at link time is stored: none, recent (30 days, the default) or full.
    history_sync = fields.String(validate=validate.OneOf(HISTORY_SYNC_MODES))
    proxy_url = fields.String(allow_none=True)  # null: connect directly; a change restarts a running session
    reject_calls = _flag()
    reject_call_message = fields.String(allow_none=True)
    media_download = fields.String(validate=validate.OneOf(["arrival", "on_request"]))


class PairSchema(Schema):
    phone = fields.String(required=True, validate=validate.Length(min=8, max=32))


class SessionChoiceSchema(Schema):
    """The optional `session` of `/api/whatsapp/*` and `/api/qr` (query string or JSON body)."""

    session = fields.String(load_default=None, validate=SessionIdField())
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "png"]))


class SessionQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in SessionStatus]))


def redacted_url(url: str | None) -> str | None:
    """Scheme and host only: a webhook URL often carries a token in its path or query."""
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


class SessionSettingsSchema(Schema):
    name = fields.String(allow_none=True)
    auto_read_enabled = fields.Boolean()
    typing_enabled = fields.Boolean()
    webhook_url = fields.String(allow_none=True)
    webhook_events = fields.List(fields.String(), allow_none=True)
    history_sync = fields.String()
    proxy_url = fields.String(allow_none=True)  # redacted: scheme, host and port
    reject_calls = fields.Boolean()
    reject_call_message = fields.String(allow_none=True)
    media_download = fields.String(allow_none=True)  # null: the install's MEDIA_DOWNLOAD


class SessionSchema(Schema):
    """A session for the dashboard; `webhook_url` is shown whole only to callers who manage webhooks."""

    id = fields.String()
    name = fields.String(allow_none=True)
    tenant_id = fields.Integer(allow_none=True)
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    connected = fields.Method("_connected")
    phone = fields.String(allow_none=True)
    push_name = fields.String(allow_none=True)
    jid = fields.String(allow_none=True)
    lid = fields.String(allow_none=True)
    platform = fields.String(allow_none=True)
    settings = fields.Method("_settings")
    messages_sent = fields.Integer()
    messages_received = fields.Integer()
    messages_failed = fields.Integer()
    # In the list only (wagate.db.figures.SENT_TODAY): the dashboard card's Sent today, the Metrics view's definition.
    sent_today = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    connected_at = fields.AwareDateTime(allow_none=True)
    last_seen_at = fields.AwareDateTime(allow_none=True)

    def __init__(self, *, full_webhook_url: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.full_webhook_url = full_webhook_url

    def _connected(self, row: Any) -> bool:
        return bool(row.status == SessionStatus.WORKING)

    def _settings(self, row: Any) -> dict[str, Any]:
        url = row.webhook_url if self.full_webhook_url else redacted_url(row.webhook_url)
        return SessionSettingsSchema().dump({
            "name": row.name, "auto_read_enabled": row.auto_read_enabled, "typing_enabled": row.typing_enabled,
            "webhook_url": url, "webhook_events": row.webhook_events,
            "history_sync": (row.settings or {}).get("history_sync", HistorySync.RECENT.value),
            "proxy_url": (row.settings or {}).get("proxy_url"),
            "reject_calls": bool((row.settings or {}).get("reject_calls", False)),
            "reject_call_message": (row.settings or {}).get("reject_call_message"),
            "media_download": (row.settings or {}).get("media_download"),
        })


class WhatsAppStatusSchema(Schema):
    """`/api/whatsapp/status`: the WA-Gate v2 shape, read from the same row as `/api/sessions/{id}`."""

    session = fields.String(attribute="id")
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    connected = fields.Method("_connected")
    phone = fields.String(allow_none=True)
    name = fields.String(attribute="push_name", allow_none=True)
    jid = fields.String(allow_none=True)
    platform = fields.String(allow_none=True)
    connected_at = fields.AwareDateTime(allow_none=True)
    last_seen_at = fields.AwareDateTime(allow_none=True)

    def _connected(self, row: Any) -> bool:
        return bool(row.status == SessionStatus.WORKING)


class QrSchema(Schema):
    session = fields.String()
    status = fields.String()
    qr = fields.String()
    expires_at = fields.String(allow_none=True)
    image = fields.String()
