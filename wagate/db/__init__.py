"""The storage layer: models, vocabularies, engine and migrations. Importing it registers every table."""

from wagate.db.base import Base
from wagate.db.models_chats import Chat
from wagate.db.models_delivery import (
    Broadcast,
    BroadcastRecipient,
    PendingEvent,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from wagate.db.models_export import EventExport
from wagate.db.models_identity import ApiKey, AuditLog, RefreshToken, Tenant, User
from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Contact, KeywordRule, Message, QrCode, WaSession

__all__ = [
    "ApiKey",
    "AuditLog",
    "Base",
    "Broadcast",
    "BroadcastRecipient",
    "Chat",
    "Contact",
    "EventExport",
    "KeywordRule",
    "PendingEvent",
    "Medium",
    "Message",
    "QrCode",
    "RefreshToken",
    "Tenant",
    "User",
    "WaSession",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
