"""chats: a session's conversations with their newest message, unread count, archived, pinned and muted.

Existing messages are gathered into chats once (newest message per conversation); unread counts start at 0, as
nothing says which of the messages received before were read.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def upgrade() -> None:
    mysql_like = op.get_context().dialect.name in ("mysql", "mariadb")
    now = sa.text("CURRENT_TIMESTAMP(6)" if mysql_like else "CURRENT_TIMESTAMP")
    op.create_table(
        "chats",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("jid", sa.String(length=128), nullable=False),
        sa.Column("lid", sa.String(length=128), nullable=True),
        sa.Column("name", sa.String(length=191), nullable=True),
        sa.Column("last_message_id", sa.BigInteger(), nullable=True),
        sa.Column("last_message_at", TIMESTAMP, nullable=True),
        sa.Column("unread_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("archived", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("pinned", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("muted_until", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, server_default=now, nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["wa_sessions.id"], name=op.f("fk_chats_session_id_wa_sessions"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
        sa.UniqueConstraint("session_id", "jid", name=op.f("uq_chats_session_id_jid")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_chats_session_id_last_message_at", "chats", ["session_id", "last_message_at"])
    # One chat per conversation that has messages: its newest message (the highest id among the newest).
    op.execute(
        "INSERT INTO chats (session_id, jid, last_message_id, last_message_at, unread_count, archived, pinned) "
        "SELECT m.session_id, m.chat_jid, MAX(m.id), MAX(m.created_at), 0, 0, 0 FROM messages m "
        "WHERE m.session_id IS NOT NULL AND m.chat_jid IS NOT NULL "
        "AND m.session_id IN (SELECT id FROM wa_sessions) GROUP BY m.session_id, m.chat_jid"
    )


def downgrade() -> None:
    op.drop_index("ix_chats_session_id_last_message_at", table_name="chats")
    op.drop_table("chats")
