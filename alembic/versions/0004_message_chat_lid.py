"""messages.chat_lid: a direct chat WhatsApp addressed by LID is stored under the phone-number JID, the LID beside it.

Rows received before keep their LID as chat_jid: those whose sender's phone-number JID is known (an incoming
direct message from someone else) move it to chat_lid and take the phone-number JID as chat_jid.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An incoming direct message from another person addressed by LID: its sender is that person's phone-number JID.
# (A message sent from the session's own phone has the session as sender and is left as it was.)
_ADDRESSED_BY_LID = ("chat_jid LIKE '%@lid' AND direction = 'in' AND sender_jid LIKE '%@s.whatsapp.net' "
                     "AND (recipient IS NULL OR sender_jid <> recipient)")


def upgrade() -> None:
    op.add_column("messages", sa.Column("chat_lid", sa.String(length=128), nullable=True))
    op.execute(f"UPDATE messages SET chat_lid = chat_jid, chat_jid = sender_jid WHERE {_ADDRESSED_BY_LID}")


def downgrade() -> None:
    op.execute("UPDATE messages SET chat_jid = chat_lid WHERE chat_lid IS NOT NULL AND direction = 'in'")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("chat_lid")
