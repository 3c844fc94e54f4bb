"""Initial schema: every table of DESIGN.md "Data", on MySQL/MariaDB and SQLite.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of wagate.db.types, so this migration means the same thing whatever later becomes of them.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def now() -> sa.TextClause:
    """Server-side default "now" in the column's precision (MySQL 8 refuses DATETIME(6) DEFAULT CURRENT_TIMESTAMP)."""
    mysql_like = op.get_context().dialect.name in ("mysql", "mariadb")
    return sa.text("CURRENT_TIMESTAMP(6)" if mysql_like else "CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "audit_logs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_audit_logs_actor", "audit_logs", ["actor_type", "actor_id", "created_at"])
    op.create_index("ix_audit_logs_created_at", "audit_logs", ["created_at"])
    op.create_index("ix_audit_logs_tenant_id_created_at", "audit_logs", ["tenant_id", "created_at"])

    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=191), nullable=False),
        sa.Column("source_service", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("max_sessions", sa.Integer(), nullable=True),
        sa.Column("max_messages", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("created_by", sa.String(length=191), nullable=True),
        sa.Column("messages_sent", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("source_service", "user_id", name=op.f("uq_tenants_source_service_user_id")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_tenants_status_expires_at", "tenants", ["status", "expires_at"])
    op.create_index("ix_tenants_user_id", "tenants", ["user_id"])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=191), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("last_login_at", TIMESTAMP, nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])

    op.create_table(
        "wa_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=191), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="STOPPED", nullable=False),
        sa.Column("status_reason", sa.String(length=255), nullable=True),
        sa.Column("jid", sa.String(length=128), nullable=True),
        sa.Column("lid", sa.String(length=128), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("push_name", sa.String(length=191), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("auto_read_enabled", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("typing_enabled", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("webhook_events", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("webhook_secret_encrypted", sa.String(length=512), nullable=True),
        sa.Column("settings", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("messages_sent", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("messages_received", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("messages_failed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("connected_at", TIMESTAMP, nullable=True),
        sa.Column("last_seen_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_wa_sessions_tenant_id_tenants"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wa_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_wa_sessions_token_hash")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_wa_sessions_status", "wa_sessions", ["status"])
    op.create_index("ix_wa_sessions_tenant_id", "wa_sessions", ["tenant_id"])

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), server_default="user", nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"])
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])

    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("name", sa.String(length=191), nullable=False),
        sa.Column("template", LONG_TEXT, nullable=False),
        sa.Column("media_path", sa.String(length=1024), nullable=True),
        sa.Column("media_mime", sa.String(length=127), nullable=True),
        sa.Column("media_name", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="draft", nullable=False),
        sa.Column("start_at", TIMESTAMP, nullable=True),
        sa.Column("created_by", sa.String(length=191), nullable=True),
        sa.Column("total_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("pending_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("sent_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("delivered_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("read_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_position", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("completed_event_sent", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["wa_sessions.id"], name=op.f("fk_broadcasts_session_id_wa_sessions"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_broadcasts_tenant_id_tenants"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_broadcasts_session_id", "broadcasts", ["session_id"])
    op.create_index("ix_broadcasts_status_start_at", "broadcasts", ["status", "start_at"])
    op.create_index("ix_broadcasts_tenant_id_created_at", "broadcasts", ["tenant_id", "created_at"])

    op.create_table(
        "contacts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("jid", sa.String(length=128), nullable=False),
        sa.Column("lid", sa.String(length=128), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=191), nullable=True),
        sa.Column("push_name", sa.String(length=191), nullable=True),
        sa.Column("business_name", sa.String(length=191), nullable=True),
        sa.Column("synced_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["wa_sessions.id"], name=op.f("fk_contacts_session_id_wa_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("session_id", "jid", name=op.f("uq_contacts_session_id_jid")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_contacts_session_id_lid", "contacts", ["session_id", "lid"])

    op.create_table(
        "keyword_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("keyword", sa.String(length=191), nullable=False),
        sa.Column("match_type", sa.String(length=16), server_default="contains", nullable=False),
        sa.Column("reply", LONG_TEXT, nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["wa_sessions.id"], name=op.f("fk_keyword_rules_session_id_wa_sessions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_keyword_rules_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keyword_rules")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_keyword_rules_session_id", "keyword_rules", ["session_id"])
    op.create_index("ix_keyword_rules_tenant_id", "keyword_rules", ["tenant_id"])

    op.create_table(
        "qr_history",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("scanned_at", TIMESTAMP, nullable=True),
        sa.Column("expired_at", TIMESTAMP, nullable=True),
        sa.Column("outcome", sa.String(length=16), server_default="issued", nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["wa_sessions.id"], name=op.f("fk_qr_history_session_id_wa_sessions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_history")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_qr_history_session_id_issued_at", "qr_history", ["session_id", "issued_at"])

    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("rotated_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.Column("user_agent", sa.String(length=255), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])

    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("events", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("secret_encrypted", sa.String(length=512), nullable=True),
        sa.Column("signature_scheme", sa.String(length=16), server_default="wagate", nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("1"), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["wa_sessions.id"], name=op.f("fk_webhooks_session_id_wa_sessions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_webhooks_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_webhooks_session_id", "webhooks", ["session_id"])
    op.create_index("ix_webhooks_tenant_id", "webhooks", ["tenant_id"])

    op.create_table(
        "messages",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("wa_message_id", sa.String(length=128), nullable=True),
        sa.Column("chat_jid", sa.String(length=128), nullable=True),
        sa.Column("sender_jid", sa.String(length=128), nullable=True),
        sa.Column("recipient", sa.String(length=128), nullable=True),
        sa.Column("type", sa.String(length=16), server_default="text", nullable=False),
        sa.Column("body", LONG_TEXT, nullable=True),
        sa.Column("media_path", sa.String(length=1024), nullable=True),
        sa.Column("media_mime", sa.String(length=127), nullable=True),
        sa.Column("media_name", sa.String(length=255), nullable=True),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("reply_to", sa.String(length=128), nullable=True),
        sa.Column("content", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("priority", sa.String(length=8), server_default="normal", nullable=False),
        sa.Column("send_at", TIMESTAMP, nullable=True),
        sa.Column("broadcast_id", sa.Integer(), nullable=True),
        sa.Column("broadcast_recipient_id", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=191), nullable=True),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("read_at", TIMESTAMP, nullable=True),
        sa.Column("failed_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["broadcast_id"], ["broadcasts.id"], name=op.f("fk_messages_broadcast_id_broadcasts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["wa_sessions.id"], name=op.f("fk_messages_session_id_wa_sessions"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("session_id", "idempotency_key", name=op.f("uq_messages_session_id_idempotency_key")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_messages_broadcast_id_status", "messages", ["broadcast_id", "status"])
    op.create_index("ix_messages_created_at", "messages", ["created_at", "direction", "status"])
    op.create_index("ix_messages_session_id_created_at", "messages", ["session_id", "created_at"])
    op.create_index("ix_messages_session_id_wa_message_id", "messages", ["session_id", "wa_message_id"])
    op.create_index("ix_messages_status_updated_at", "messages", ["status", "updated_at"])

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_duration_ms", sa.Integer(), nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"], ["webhooks.id"], name=op.f("fk_webhook_deliveries_webhook_id_webhooks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("webhook_id", "event_id", name=op.f("uq_webhook_deliveries_webhook_id_event_id")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_index("ix_webhook_deliveries_status_next_attempt_at", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_webhook_id_created_at", "webhook_deliveries", ["webhook_id", "created_at"])

    op.create_table(
        "broadcast_recipients",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("broadcast_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=191), nullable=True),
        sa.Column("variables", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("message_id", BIG_ID, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name=op.f("fk_broadcast_recipients_broadcast_id_broadcasts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_broadcast_recipients_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipients")),
        sa.UniqueConstraint("broadcast_id", "phone", name=op.f("uq_broadcast_recipients_broadcast_id_phone")),
        **MYSQL_OPTIONS,
    )
    op.create_index(
        "ix_broadcast_recipients_broadcast_id_position", "broadcast_recipients", ["broadcast_id", "position"]
    )
    op.create_index("ix_broadcast_recipients_broadcast_id_status", "broadcast_recipients", ["broadcast_id", "status"])
    op.create_index("ix_broadcast_recipients_message_id", "broadcast_recipients", ["message_id"])

    op.create_table(
        "webhook_attempts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("delivery_id", BIG_ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        sa.UniqueConstraint("delivery_id", "attempt", name=op.f("uq_webhook_attempts_delivery_id_attempt")),
        **MYSQL_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("broadcast_recipients")
    op.drop_table("webhook_deliveries")
    op.drop_table("messages")
    op.drop_table("webhooks")
    op.drop_table("refresh_tokens")
    op.drop_table("qr_history")
    op.drop_table("keyword_rules")
    op.drop_table("contacts")
    op.drop_table("broadcasts")
    op.drop_table("api_keys")
    op.drop_table("wa_sessions")
    op.drop_table("users")
    op.drop_table("tenants")
    op.drop_table("audit_logs")
