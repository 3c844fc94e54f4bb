"""wa_sessions.proxy_url_encrypted: the proxy a session connects through, encrypted at rest like webhook secrets.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wa_sessions") as batch:
        batch.add_column(sa.Column("proxy_url_encrypted", sa.String(1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wa_sessions") as batch:
        batch.drop_column("proxy_url_encrypted")
