"""audit_logs.result: "success" for a change made, "denied" for a change refused with 403.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_logs") as batch:
        batch.add_column(sa.Column("result", sa.String(length=16), server_default="success", nullable=False))
        batch.create_index("ix_audit_logs_result_created_at", ["result", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("audit_logs") as batch:
        batch.drop_index("ix_audit_logs_result_created_at")
        batch.drop_column("result")
