"""Outgoing work at scale: broadcasts and their recipients, webhooks, their deliveries and every attempt."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wagate.db.base import Base, CreatedAt, Timestamps, mysql_table_options
from wagate.db.enums import BroadcastStatus, DeliveryStatus, RecipientStatus, SignatureScheme, WebhookFormat
from wagate.db.types import BigIntPK, JSONValue, LongText, StrEnumType, UTCDateTime

if TYPE_CHECKING:
    from wagate.db.models_identity import Tenant
    from wagate.db.models_whatsapp import Message, WaSession


def _counter() -> Mapped[int]:
    return mapped_column(Integer, default=0, server_default=text("0"))


class Broadcast(Timestamps, Base):
    """One text (with optional media) sent to many recipients from one session, paced as bulk."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        Index("ix_broadcasts_tenant_id_created_at", "tenant_id", "created_at"),
        Index("ix_broadcasts_session_id", "session_id"),
        Index("ix_broadcasts_status_start_at", "status", "start_at"),  # scheduler: due and resumable ones
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SET NULL on both: a broadcast is history, like its messages (see the rules in models_identity).
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="SET NULL"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("wa_sessions.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(191))
    template: Mapped[str] = mapped_column(LongText)  # with {{variables}} filled per recipient
    media_path: Mapped[str | None] = mapped_column(String(1024))
    media_mime: Mapped[str | None] = mapped_column(String(127))
    media_name: Mapped[str | None] = mapped_column(String(255))
    # A kind beyond text and one medium (`services.messaging.kinds`): its row type and the fields every recipient's
    # message shares; NULL: text, or the medium's kind from its mimetype.
    message_type: Mapped[str | None] = mapped_column(String(16))
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))  # wagate.services.media
    status: Mapped[BroadcastStatus] = mapped_column(
        StrEnumType(BroadcastStatus, 16), default=BroadcastStatus.DRAFT, server_default=BroadcastStatus.DRAFT.value
    )
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(191))
    total_count: Mapped[int] = _counter()
    pending_count: Mapped[int] = _counter()
    sent_count: Mapped[int] = _counter()
    delivered_count: Mapped[int] = _counter()
    read_count: Mapped[int] = _counter()
    failed_count: Mapped[int] = _counter()
    # Expansion turns recipients into messages in position order, a batch per job; recipients below
    # next_position have their message, so a job that died half-way resumes without sending twice.
    next_position: Mapped[int] = _counter()
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set in the same UPDATE that sees the last recipient finish, so broadcast.completed fires once.
    completed_event_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))

    tenant: Mapped[Tenant | None] = relationship(lazy="raise")
    session: Mapped[WaSession | None] = relationship(lazy="raise")
    recipients: Mapped[list[BroadcastRecipient]] = relationship(
        back_populates="broadcast", lazy="raise", passive_deletes=True
    )


class BroadcastRecipient(Base):
    """One number of a broadcast, its template variables, and the message it became."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "phone"),  # one number gets a broadcast once
        Index("ix_broadcast_recipients_broadcast_id_position", "broadcast_id", "position"),
        Index("ix_broadcast_recipients_broadcast_id_status", "broadcast_id", "status"),
        Index("ix_broadcast_recipients_message_id", "message_id"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # 0-based order of the uploaded list
    phone: Mapped[str] = mapped_column(String(32))  # normalised, digits only
    name: Mapped[str | None] = mapped_column(String(191))
    variables: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    status: Mapped[RecipientStatus] = mapped_column(
        StrEnumType(RecipientStatus, 16), default=RecipientStatus.PENDING, server_default=RecipientStatus.PENDING.value
    )
    # SET NULL: message retention may delete old messages; the recipient row keeps its final status.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)

    broadcast: Mapped[Broadcast] = relationship(back_populates="recipients", lazy="raise")
    message: Mapped[Message | None] = relationship(lazy="raise")


class Webhook(Timestamps, Base):
    """A receiver of events: global (no tenant, no session), a tenant's, or one session's."""

    __tablename__ = "webhooks"
    __table_args__ = (
        Index("ix_webhooks_tenant_id", "tenant_id"),
        Index("ix_webhooks_session_id", "session_id"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("wa_sessions.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str] | str] = mapped_column(JSONValue)  # a list of event names, or "*" for all
    secret_encrypted: Mapped[str | None] = mapped_column(String(512))  # Fernet token of the HMAC secret
    signature_scheme: Mapped[SignatureScheme] = mapped_column(
        StrEnumType(SignatureScheme, 16), default=SignatureScheme.WAGATE, server_default=SignatureScheme.WAGATE.value
    )
    format: Mapped[WebhookFormat] = mapped_column(
        StrEnumType(WebhookFormat, 16), default=WebhookFormat.WAGATE, server_default=WebhookFormat.WAGATE.value
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("1"))
    description: Mapped[str | None] = mapped_column(String(255))

    tenant: Mapped[Tenant | None] = relationship(lazy="raise")
    session: Mapped[WaSession | None] = relationship(lazy="raise")
    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="webhook", lazy="raise", passive_deletes=True
    )


class WebhookDelivery(Timestamps, Base):
    """One event for one webhook, retried until delivered, refused, or past the horizon."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # An event fans out to a webhook once, even if the fan-out job runs twice.
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),  # the pending scan
        Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id", "created_at"),  # listing per webhook
        Index("ix_webhook_deliveries_event_id", "event_id"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))  # "evt_…", the body's id
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(LongText)  # the exact bytes signed and sent, never re-serialised
    status: Mapped[DeliveryStatus] = mapped_column(
        StrEnumType(DeliveryStatus, 16), default=DeliveryStatus.PENDING, server_default=DeliveryStatus.PENDING.value
    )
    attempts: Mapped[int] = _counter()
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    webhook: Mapped[Webhook] = relationship(back_populates="deliveries", lazy="raise")
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", lazy="raise", passive_deletes=True, order_by="WebhookAttempt.attempt"
    )


class WebhookAttempt(CreatedAt, Base):
    """One HTTP attempt of a delivery; the delivery row holds only the latest outcome."""

    __tablename__ = "webhook_attempts"
    # (delivery_id, attempt) unique: two workers running the same job cannot both record attempt N.
    __table_args__ = (UniqueConstraint("delivery_id", "attempt"), mysql_table_options())

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)  # 1-based
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no HTTP answer (timeout, refused)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log", lazy="raise")


class PendingEvent(CreatedAt, Base):
    """An event written in the transaction of the change it tells of, and deleted once it is on the event stream.

    For events nothing else could make again (an incoming message: WhatsApp delivers it once). A process killed
    between the commit and the publish leaves the row, and the worker's sweep publishes it (`event_outbox`).
    """

    __tablename__ = "pending_events"
    __table_args__ = (Index("ix_pending_events_created_at", "created_at"), mysql_table_options())

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer)  # the live channel; no key: the event outlives a tenant
    body: Mapped[str] = mapped_column(LongText)  # the envelope's JSON, as it goes on the stream
