"""A session's chats: one row per conversation, kept up to date by the bridge as messages come and go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from wagate.db.base import Base, mysql_table_options
from wagate.db.models_whatsapp import JID
from wagate.db.types import BigIntPK, UTCDateTime, utc_now, utcnow


class Chat(Base):
    """A conversation of a session: its newest message, unread count and the state WhatsApp keeps for it.

    `jid` is the conversation's identity as `messages.chat_jid` has it (the other person's phone-number JID wherever
    it is known); archived, pinned and muted follow WhatsApp's app state (set here or on the phone).
    """

    __tablename__ = "chats"
    __table_args__ = (
        UniqueConstraint("session_id", "jid"),
        Index("ix_chats_session_id_last_message_at", "session_id", "last_message_at"),  # the inbox, newest first
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("wa_sessions.id", ondelete="CASCADE"))
    jid: Mapped[str] = mapped_column(JID)
    lid: Mapped[str | None] = mapped_column(JID)
    name: Mapped[str | None] = mapped_column(String(191))  # the contact's push name, or the group's subject
    # No foreign key: a message row may be pruned by retention while its chat stays.
    last_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unread_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    muted_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: not muted; far future: forever
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, server_default=utc_now(),
                                                 onupdate=utcnow)
