"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from alembic import op
${imports if imports else ""}
revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# Frozen copies of wagate.db.types, so this migration means the same thing whatever later becomes of them.
TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def now() -> sa.TextClause:
    """Server-side default "now" in the column's precision (MySQL 8 refuses DATETIME(6) DEFAULT CURRENT_TIMESTAMP)."""
    mysql_like = op.get_context().dialect.name in ("mysql", "mariadb")
    return sa.text("CURRENT_TIMESTAMP(6)" if mysql_like else "CURRENT_TIMESTAMP")


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
