"""event_exports: brokers (NATS JetStream, RabbitMQ) that receive every event, scoped and filtered like webhooks.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    mysql_like = op.get_context().dialect.name in ("mysql", "mariadb")
    now = sa.text("CURRENT_TIMESTAMP(6)" if mysql_like else "CURRENT_TIMESTAMP")
    op.create_table(
        "event_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url_encrypted", sa.String(length=4096), nullable=False),
        sa.Column("url_shown", sa.String(length=2048), nullable=False),
        sa.Column("target", sa.String(length=191), nullable=False),
        sa.Column("prefix", sa.String(length=64), server_default="wagate", nullable=False),
        sa.Column("events", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now, nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now, nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["wa_sessions.id"],
                                name=op.f("fk_event_exports_session_id_wa_sessions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_event_exports_tenant_id_tenants"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_exports")),
        mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_unicode_ci",
    )
    op.create_index("ix_event_exports_session_id", "event_exports", ["session_id"])
    op.create_index("ix_event_exports_tenant_id", "event_exports", ["tenant_id"])


def downgrade() -> None:
    # The indexes go with the table: MySQL refuses to drop one a foreign key still needs.
    op.drop_table("event_exports")
