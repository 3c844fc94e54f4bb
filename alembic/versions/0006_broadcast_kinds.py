"""broadcasts.message_type and broadcasts.content: a broadcast of any message kind (a poll, a contact card, a
voice note …), the kind's fields shared by every recipient's message.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for the broadcasts already there: text, or the medium's kind from its mimetype, as before.
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("message_type", sa.String(16), nullable=True))
        batch.add_column(sa.Column("content", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("content")
        batch.drop_column("message_type")
