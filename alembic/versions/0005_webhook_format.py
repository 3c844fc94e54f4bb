"""webhooks.format: the body a webhook receives, the gateway's envelope (`wagate`) or wuzapi's (`wuzapi`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A server default: the rows already there keep receiving the gateway's envelope.
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("format", sa.String(16), server_default="wagate", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("format")
