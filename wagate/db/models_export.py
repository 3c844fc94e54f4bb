"""Event exports: every event (filtered like webhooks) published to a NATS JetStream or RabbitMQ broker."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from wagate.db.base import Base, Timestamps, mysql_table_options
from wagate.db.enums import BrokerKind
from wagate.db.types import JSONValue, StrEnumType


class EventExport(Timestamps, Base):
    """A broker that receives events: global (no tenant, no session), a tenant's, or one session's."""

    __tablename__ = "event_exports"
    __table_args__ = (
        Index("ix_event_exports_tenant_id", "tenant_id"),
        Index("ix_event_exports_session_id", "session_id"),
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(ForeignKey("wa_sessions.id", ondelete="CASCADE"))
    kind: Mapped[BrokerKind] = mapped_column(StrEnumType(BrokerKind, 16))
    # The broker URL carries its password: stored as a Fernet token (secrets_box), shown only without it.
    url_encrypted: Mapped[str] = mapped_column(String(4096))
    url_shown: Mapped[str] = mapped_column(String(2048))  # the URL without its password, for listings and audits
    # NATS: the JetStream stream; RabbitMQ: the topic exchange. Subjects / routing keys start with `prefix`.
    target: Mapped[str] = mapped_column(String(191))
    prefix: Mapped[str] = mapped_column(String(64), default="wagate", server_default="wagate")
    events: Mapped[list[str] | str] = mapped_column(JSONValue)  # a list of event names, or "*" for all
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("1"))
    description: Mapped[str | None] = mapped_column(String(255))
