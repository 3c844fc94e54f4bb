"""The status, role and kind vocabularies shared by the database, the API, the dashboard and the webhooks.

Stored as plain strings (see `wagate.db.types.StrEnumType`), never as native database enums, so a new
value needs no table rebuild on SQLite and no ALTER on MySQL.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Dashboard users and API keys: admin does everything, operator sends, user only views."""

    ADMIN = "admin"
    OPERATOR = "operator"
    USER = "user"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"


class ActorType(StrEnum):
    """Who made a change recorded in `audit_logs`."""

    USER = "user"
    API_KEY = "api_key"
    INTERNAL = "internal"  # a service calling /internal/* with an internal key
    SYSTEM = "system"  # cron, workers, the bridge


class SessionStatus(StrEnum):
    """The one session vocabulary (DESIGN "Session status"), written by the bridge only."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    SCAN_QR_CODE = "SCAN_QR_CODE"
    WORKING = "WORKING"
    FAILED = "FAILED"
    LOGGED_OUT = "LOGGED_OUT"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    REACTION = "reaction"
    POLL = "poll"
    EDIT = "edit"  # a sent edit of an earlier text of this session
    REVOKE = "revoke"  # a sent delete-for-everyone of an earlier message
    LIVE_LOCATION = "live_location"
    OTHER = "other"  # kept for rows stored before every kind was parsed
    UNKNOWN = "unknown"  # received kinds the gateway does not know: stored, announced, never dropped


class HistorySync(StrEnum):
    """What of the history the phone sends at link time a session stores (its `history_sync` setting)."""

    NONE = "none"
    RECENT = "recent"  # the default: the last 30 days
    FULL = "full"


HISTORY_SYNC_MODES = tuple(mode.value for mode in HistorySync)


class MessageStatus(StrEnum):
    """queued → sending → sent → delivered → read, or failed; or unknown: WhatsApp may have it, and sending it again
    could show it twice, so the caller decides (only where the transport cannot send again under the same id)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Priority(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"
    BULK = "bulk"


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class RecipientStatus(StrEnum):
    """A broadcast recipient: pending until expanded into a message, then it follows that message."""

    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"  # invalid number or cancelled before expansion


class WebhookFormat(StrEnum):
    """`wagate`: the gateway's event envelope; `wuzapi`: `{"type": "Message", "event": {…}}` as wuzapi posts it."""

    WAGATE = "wagate"
    WUZAPI = "wuzapi"


class SignatureScheme(StrEnum):
    """`wagate`: X-WAGate-Signature over "<timestamp>.<body>"; `compat`: plain Signature header over the body."""

    WAGATE = "wagate"
    COMPAT = "compat"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"  # a permanent refusal (4xx other than 408/429)
    EXHAUSTED = "exhausted"  # retried up to the horizon; can be redelivered by hand


class QrOutcome(StrEnum):
    ISSUED = "issued"
    SCANNED = "scanned"
    EXPIRED = "expired"


class KeywordMatch(StrEnum):
    EXACT = "exact"
    CONTAINS = "contains"
    PREFIX = "prefix"
    REGEX = "regex"


class EventName(StrEnum):
    """Every event the gateway emits: WebSocket messages, webhook deliveries and `X-WAGate-Event`."""

    MESSAGE_RECEIVED = "message.received"
    MESSAGE_SENT = "message.sent"
    MESSAGE_DELIVERED = "message.delivered"
    MESSAGE_READ = "message.read"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_UNKNOWN = "message.unknown"  # WhatsApp may or may not have a sent message: the caller decides
    MESSAGE_EDITED = "message.edited"
    MESSAGE_REVOKED = "message.revoked"
    MESSAGE_REACTION = "message.reaction"
    POLL_VOTE = "poll.vote"
    MESSAGE_POLL_VOTE = "message.poll_vote"  # the old name of poll.vote: a webhook subscribed to it gets poll.vote
    PRESENCE_UPDATE = "presence.update"
    HISTORY_SYNCED = "history.synced"
    CONNECTION_OPEN = "connection.open"
    CONNECTION_CLOSE = "connection.close"
    QR_GENERATED = "qr.generated"
    SESSION_STATUS = "session.status"
    BROADCAST_COMPLETED = "broadcast.completed"
    GROUP_JOINED = "group.joined"
    GROUP_LEFT = "group.left"
    GROUP_PARTICIPANTS = "group.participants"  # added, removed, promoted, demoted, with who did it
    GROUP_UPDATED = "group.updated"  # subject, description, settings, picture, invite link, community links
    SESSION_LIMITED = "session.limited"  # WhatsApp refuses sends to new contacts for now (463, 429)
    SESSION_UNLIMITED = "session.unlimited"


class BrokerKind(StrEnum):
    """Where an event export publishes: a NATS JetStream stream or a RabbitMQ topic exchange."""

    NATS = "nats"
    RABBITMQ = "rabbitmq"
