"""WhatsApp data: linked sessions, the messages they send and receive, contacts, QR codes, keyword auto-replies."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wagate.db.base import Base, Timestamps, mysql_table_options
from wagate.db.enums import Direction, KeywordMatch, MessageStatus, MessageType, Priority, QrOutcome, SessionStatus
from wagate.db.types import BigIntPK, JSONValue, LongText, StrEnumType, UTCDateTime, utc_now, utcnow

if TYPE_CHECKING:
    from wagate.db.models_delivery import Broadcast
    from wagate.db.models_identity import Tenant

# Longest JIDs seen are LIDs with a device part ("123456789012345:12@lid"); 128 leaves room.
JID = String(128)


class WaSession(Timestamps, Base):
    """A WhatsApp number linked (or being linked) to the gateway; its status is written by the bridge only."""

    __tablename__ = "wa_sessions"
    __table_args__ = (
        Index("ix_wa_sessions_tenant_id", "tenant_id"),
        Index("ix_wa_sessions_status", "status"),
        mysql_table_options(),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the id users see, e.g. "marketing-1"
    # RESTRICT: see the ownership rules in models_identity.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"))
    name: Mapped[str | None] = mapped_column(String(191))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the per-session token
    status: Mapped[SessionStatus] = mapped_column(
        StrEnumType(SessionStatus, 16), default=SessionStatus.STOPPED, server_default=SessionStatus.STOPPED.value
    )
    status_reason: Mapped[str | None] = mapped_column(String(255))
    jid: Mapped[str | None] = mapped_column(JID)
    lid: Mapped[str | None] = mapped_column(JID)
    phone: Mapped[str | None] = mapped_column(String(32))
    push_name: Mapped[str | None] = mapped_column(String(191))
    platform: Mapped[str | None] = mapped_column(String(32))
    auto_read_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    typing_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_events: Mapped[list[str] | None] = mapped_column(JSONValue)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(String(512))
    settings: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)  # everything without its own column
    # Fernet token of the proxy URL (its credentials are secrets): services.sessions.proxy.
    proxy_url_encrypted: Mapped[str | None] = mapped_column(String(1024))
    messages_sent: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    messages_received: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    messages_failed: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    tenant: Mapped[Tenant | None] = relationship(back_populates="sessions", lazy="raise")
    contacts: Mapped[list[Contact]] = relationship(back_populates="session", lazy="raise", passive_deletes=True)
    qr_codes: Mapped[list[QrCode]] = relationship(back_populates="session", lazy="raise", passive_deletes=True)


class Message(Timestamps, Base):
    """One message in or out. Outgoing rows are the outbox: written `queued` before their send job exists."""

    __tablename__ = "messages"
    __table_args__ = (
        # An Idempotency-Key is unique per session; NULL keys never collide (on MySQL and SQLite alike).
        UniqueConstraint("session_id", "idempotency_key"),
        Index("ix_messages_session_id_created_at", "session_id", "created_at"),  # listing per session
        Index("ix_messages_session_id_wa_message_id", "session_id", "wa_message_id"),  # receipts, replies
        Index("ix_messages_status_updated_at", "status", "updated_at"),  # outbox sweep: rows stuck queued/sending
        Index("ix_messages_created_at", "created_at", "direction", "status"),  # per-day counts, covering
        Index("ix_messages_broadcast_id_status", "broadcast_id", "status"),  # broadcast progress
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # SET NULL, not CASCADE: deleting a session must always succeed, yet its messages stay for the message
    # log, daily metrics and audits. A send job finding no session fails the message permanently.
    session_id: Mapped[str | None] = mapped_column(ForeignKey("wa_sessions.id", ondelete="SET NULL"))
    direction: Mapped[Direction] = mapped_column(StrEnumType(Direction, 3))
    wa_message_id: Mapped[str | None] = mapped_column(String(128))
    # A conversation has one identity: the other person's phone-number JID wherever it is known, even when WhatsApp
    # addressed the chat by LID; that LID is kept beside it, so a filter by either finds the message.
    chat_jid: Mapped[str | None] = mapped_column(JID)
    chat_lid: Mapped[str | None] = mapped_column(JID)
    sender_jid: Mapped[str | None] = mapped_column(JID)
    recipient: Mapped[str | None] = mapped_column(JID)  # the normalised phone or JID a send went to
    type: Mapped[MessageType] = mapped_column(
        StrEnumType(MessageType, 16), default=MessageType.TEXT, server_default=MessageType.TEXT.value
    )
    body: Mapped[str | None] = mapped_column(LongText)
    media_path: Mapped[str | None] = mapped_column(String(1024))
    media_mime: Mapped[str | None] = mapped_column(String(127))
    media_name: Mapped[str | None] = mapped_column(String(255))
    # The kept file (wagate.services.media); media_path is only the older rows' file. SET NULL: retention may
    # delete a medium long after its message was sent or received.
    media_id: Mapped[int | None] = mapped_column(ForeignKey("media.id", ondelete="SET NULL"))
    # What the transport needs to download a received medium (WhatsApp's direct path, keys, hashes): server-side
    # only, never in an event, a webhook or an answer.
    media_source: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    caption: Mapped[str | None] = mapped_column(Text)
    reply_to: Mapped[str | None] = mapped_column(String(128))  # the quoted message's WhatsApp id
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)  # type-specific: coordinates, vCard, emoji
    status: Mapped[MessageStatus] = mapped_column(
        StrEnumType(MessageStatus, 16), default=MessageStatus.QUEUED, server_default=MessageStatus.QUEUED.value
    )
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    priority: Mapped[Priority] = mapped_column(
        StrEnumType(Priority, 8), default=Priority.NORMAL, server_default=Priority.NORMAL.value
    )
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # scheduled; None: as soon as paced
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="SET NULL"))
    # No foreign key: broadcast_recipients.message_id already points here, and a key both ways would make a
    # cycle that MySQL and SQLite can only create or drop in two steps.
    broadcast_recipient_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(191))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    session: Mapped[WaSession | None] = relationship(lazy="raise")
    broadcast: Mapped[Broadcast | None] = relationship(lazy="raise")


class Contact(Base):
    """A contact of a session as WhatsApp reports it; also maps a LID to its phone-number JID."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("session_id", "jid"),
        Index("ix_contacts_session_id_lid", "session_id", "lid"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("wa_sessions.id", ondelete="CASCADE"))
    jid: Mapped[str] = mapped_column(JID)
    lid: Mapped[str | None] = mapped_column(JID)
    phone: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(191))
    push_name: Mapped[str | None] = mapped_column(String(191))
    business_name: Mapped[str | None] = mapped_column(String(191))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, server_default=utc_now())

    session: Mapped[WaSession] = relationship(back_populates="contacts", lazy="raise")


class QrCode(Base):
    """One QR code shown for linking, and what became of it. Only a hash of the code is kept."""

    __tablename__ = "qr_history"
    __table_args__ = (Index("ix_qr_history_session_id_issued_at", "session_id", "issued_at"), mysql_table_options())

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("wa_sessions.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, server_default=utc_now())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[QrOutcome] = mapped_column(
        StrEnumType(QrOutcome, 16), default=QrOutcome.ISSUED, server_default=QrOutcome.ISSUED.value
    )
    code_hash: Mapped[str] = mapped_column(String(64))  # SHA-256: the raw code would let anyone link the phone

    session: Mapped[WaSession] = relationship(back_populates="qr_codes", lazy="raise")


class KeywordRule(Timestamps, Base):
    """An auto-reply: when a received text matches `keyword`, send `reply`. Scoped to a session, a tenant, or all."""

    __tablename__ = "keyword_rules"
    __table_args__ = (
        Index("ix_keyword_rules_tenant_id", "tenant_id"),
        Index("ix_keyword_rules_session_id", "session_id"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("wa_sessions.id", ondelete="CASCADE"))
    keyword: Mapped[str] = mapped_column(String(191))
    # Not "match": MATCH is a reserved word in MySQL.
    match_type: Mapped[KeywordMatch] = mapped_column(
        StrEnumType(KeywordMatch, 16), default=KeywordMatch.CONTAINS, server_default=KeywordMatch.CONTAINS.value
    )
    reply: Mapped[str] = mapped_column(LongText)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("1"))
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # higher is tried first

    tenant: Mapped[Tenant | None] = relationship(lazy="raise")
    session: Mapped[WaSession | None] = relationship(lazy="raise")
