"""media: the files the gateway keeps, one row per content hash; messages and broadcasts point at theirs.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


def now() -> sa.TextClause:
    mysql_like = op.get_context().dialect.name in ("mysql", "mariadb")
    return sa.text("CURRENT_TIMESTAMP(6)" if mysql_like else "CURRENT_TIMESTAMP")


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mimetype", sa.String(length=127), nullable=False),
        sa.Column("location", sa.String(length=8), nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, server_default=now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("sha256", name=op.f("uq_media_sha256")),
        **MYSQL_OPTIONS,
    )
    op.create_index("ix_media_location", "media", ["location"])
    op.create_index("ix_media_last_used_at", "media", ["last_used_at"])
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("media_id", BIG_ID, nullable=True))
        batch.add_column(sa.Column("media_source", sa.JSON(none_as_null=True), nullable=True))
        batch.create_foreign_key(op.f("fk_messages_media_id_media"), "media", ["media_id"], ["id"],
                                 ondelete="SET NULL")
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("media_id", BIG_ID, nullable=True))
        batch.create_foreign_key(op.f("fk_broadcasts_media_id_media"), "media", ["media_id"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_constraint(op.f("fk_broadcasts_media_id_media"), type_="foreignkey")
        batch.drop_column("media_id")
    with op.batch_alter_table("messages") as batch:
        batch.drop_constraint(op.f("fk_messages_media_id_media"), type_="foreignkey")
        batch.drop_column("media_source")
        batch.drop_column("media_id")
    op.drop_index("ix_media_last_used_at", table_name="media")
    op.drop_index("ix_media_location", table_name="media")
    op.drop_table("media")
