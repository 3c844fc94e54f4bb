"""What a sent edit or revoke changes in the gateway's copy of its target: the message log shows the new text, or
that the message was deleted for everyone, as the recipient's phone now does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import MessageType
from wagate.db.models_whatsapp import Message


async def apply(db: async_sessionmaker[AsyncSession], sent: Sequence[Message], now: datetime) -> None:
    """Update the targets of the edits and revokes among `sent` (already marked sent) in one transaction."""
    changes = [m for m in sent if m.type in (MessageType.EDIT, MessageType.REVOKE)
               and isinstance((m.content or {}).get("target_row"), int)]
    if not changes:
        return
    async with db() as session, session.begin():
        for change in changes:
            target = await session.get(Message, (change.content or {})["target_row"])
            if target is None or target.session_id != change.session_id:
                continue
            stamp = now.isoformat()
            if change.type == MessageType.EDIT:
                target.content = {**(target.content or {}), "edited_at": stamp, "original_text": (
                    (target.content or {}).get("original_text") or target.body)}
                target.body = change.body
            else:
                target.content = {**(target.content or {}), "revoked_at": stamp}
            target.updated_at = now
