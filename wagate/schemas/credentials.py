"""The seed-compatible session shapes of `/sessions/*` (seed 004), and the one status mapping behind them.

Every field that describes a session's state comes from its one `status` (written by the bridge only):

    status          status (seed)   connectionStatus   isActive   isAuthenticated
    STOPPED         disconnected    DISCONNECTED       false      false
    STARTING        connecting      CONNECTING         true       false
    SCAN_QR_CODE    qr              SCAN_QR_CODE       true       false
    WORKING         connected       AUTHENTICATED      true       true
    FAILED          failed          FAILED             false      false
    LOGGED_OUT      logged_out      LOGGED_OUT         false      false

`startTime` is the bridge's last start (ms since the epoch) while the session is active, else null. `id` is a
stable number derived from the session id (the first 52 bits of its SHA-256, so a JavaScript number holds it
exactly): sessions are keyed by their string id, and this number never changes and is the same on every
web process. `userInfo` is null until a phone has been linked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, fields

from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession


@dataclass(frozen=True, slots=True)
class StatusView:
    status: str
    connection_status: str
    is_active: bool
    is_authenticated: bool


STATUS_VIEWS: dict[SessionStatus, StatusView] = {
    SessionStatus.STOPPED: StatusView("disconnected", "DISCONNECTED", False, False),
    SessionStatus.STARTING: StatusView("connecting", "CONNECTING", True, False),
    SessionStatus.SCAN_QR_CODE: StatusView("qr", "SCAN_QR_CODE", True, False),
    SessionStatus.WORKING: StatusView("connected", "AUTHENTICATED", True, True),
    SessionStatus.FAILED: StatusView("failed", "FAILED", False, False),
    SessionStatus.LOGGED_OUT: StatusView("logged_out", "LOGGED_OUT", False, False),
}
# A status written by a newer release than this one reads as a plain string: shown as it is, never active.
_UNKNOWN = StatusView("unknown", "UNKNOWN", False, False)


def status_view(status: SessionStatus | str) -> StatusView:
    try:
        return STATUS_VIEWS[SessionStatus(status)]
    except ValueError:
        return _UNKNOWN


def numeric_id(session_id: str) -> int:
    return int(hashlib.sha256(session_id.encode()).hexdigest()[:13], 16)


def js_time(value: datetime | None) -> str | None:
    """`2025-07-25T07:09:57.575Z`, as JavaScript's `toISOString()` writes it."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def phone_number(row: WaSession) -> str | None:
    if row.phone:
        return row.phone
    user = (row.jid or "").partition("@")[0].partition(":")[0]
    return user if user.isdigit() else None


class BasicSessionSchema(Schema):
    """`/sessions`, `/sessions/connected`, `/sessions/all`, `/sessions/{id}`: the session without userInfo."""

    id = fields.Function(lambda row: numeric_id(row.id))
    sessionId = fields.String(attribute="id")  # noqa: N815 - the seed's field names
    status = fields.Function(lambda row: status_view(row.status).status)
    createdAt = fields.Function(lambda row: js_time(row.created_at))  # noqa: N815
    updatedAt = fields.Function(lambda row: js_time(row.updated_at))  # noqa: N815
    isActive = fields.Function(lambda row: status_view(row.status).is_active)  # noqa: N815
    isAuthenticated = fields.Function(lambda row: status_view(row.status).is_authenticated)  # noqa: N815
    startTime = fields.Method("_start_time")  # noqa: N815
    connectionStatus = fields.Function(lambda row: status_view(row.status).connection_status)  # noqa: N815

    class Meta:
        ordered = True

    def _start_time(self, row: WaSession) -> int | None:
        if not status_view(row.status).is_active or row.started_at is None:
            return None
        return int(row.started_at.timestamp() * 1000)


class CredentialsSessionSchema(BasicSessionSchema):
    """`…/credentials`: the session with `userInfo`, the seed's field order."""

    userInfo = fields.Method("_user_info")  # noqa: N815

    class Meta:
        ordered = True
        fields = ("id", "sessionId", "status", "createdAt", "updatedAt", "userInfo", "isActive", "isAuthenticated",
                  "startTime", "connectionStatus")

    def _user_info(self, row: WaSession) -> dict[str, Any] | None:
        if not row.jid and not row.phone:
            return None
        return {"phoneNumber": phone_number(row), "name": row.push_name, "jid": row.jid,
                "platform": row.platform, "registered": row.jid is not None}


class StatusSchema(Schema):
    """`/sessions/{id}/status`."""

    sessionId = fields.String(attribute="id")  # noqa: N815
    status = fields.Function(lambda row: status_view(row.status).status)
    connectionStatus = fields.Function(lambda row: status_view(row.status).connection_status)  # noqa: N815
    isActive = fields.Function(lambda row: status_view(row.status).is_active)  # noqa: N815
    isAuthenticated = fields.Function(lambda row: status_view(row.status).is_authenticated)  # noqa: N815
    sessionStatus = fields.String(attribute="status")  # noqa: N815 - the gateway's own vocabulary
    reason = fields.String(attribute="status_reason", allow_none=True)

    class Meta:
        ordered = True
