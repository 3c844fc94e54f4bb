"""Changes WhatsApp reports to a message already stored: edits, deletes for everyone, reactions and poll votes.

Each changes the original message's row (found by its WhatsApp id, sent or received) and goes out as its own
event (`message.edited`, `message.revoked`, `message.reaction`, `message.poll_vote`), never as a new message.
A change to a message the gateway never stored (older than the link, say) still goes out as an event.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_whatsapp import Message, WaSession
from wagate.services import events
from wagate.transport.base import MessageChanged

log = structlog.get_logger(__name__)

EVENT_OF_CHANGE = {"edited": "message.edited", "revoked": "message.revoked", "reaction": "message.reaction",
                   "poll_vote": "message.poll_vote"}


def _changed_content(content: dict[str, Any] | None, change: MessageChanged) -> dict[str, Any]:
    """The row's `content` with the change recorded (a fresh dict: the JSON column sees the assignment)."""
    content = dict(content or {})
    stamp = int(change.timestamp)
    if change.change == "edited":
        content["editedAt"] = stamp
    elif change.change == "revoked":
        content["revokedAt"] = stamp
    elif change.change == "reaction":
        reactions = dict(content.get("reactions") or {})
        if change.text:
            reactions[change.sender] = change.text
        else:
            reactions.pop(change.sender, None)  # an empty reaction takes the earlier one back
        content["reactions"] = reactions
    else:
        votes = dict(content.get("pollVotes") or {})
        votes[change.sender] = stamp  # the choice itself is encrypted for the poll's creator
        content["pollVotes"] = votes
    return content


async def apply_change(db: async_sessionmaker[AsyncSession], redis: Redis, change: MessageChanged) -> None:
    async with db() as session, session.begin():
        wa_session = await session.get(WaSession, change.session_id)
        if wa_session is None:
            return
        row = await session.scalar(select(Message).where(
            Message.session_id == change.session_id, Message.wa_message_id == change.message_id).limit(1))
        if row is not None:
            row.content = _changed_content(row.content, change)
            if change.change == "edited" and change.text is not None:
                row.body = change.text
        tenant_id, row_id = wa_session.tenant_id, row.id if row is not None else None
    data = {"id": row_id, "messageId": change.message_id, "changeId": change.change_id, "chat": change.chat,
            "from": change.sender, "fromMe": change.from_me, "timestamp": int(change.timestamp)}
    if change.change == "edited":
        data["message"] = change.text
    elif change.change == "reaction":
        data["reaction"] = change.text
    await events.publish_durably(redis, tenant_id, events.envelope(EVENT_OF_CHANGE[change.change], change.session_id,
                                                                   data), log=log, what="message change",
                                 session_id=change.session_id, wa_message_id=change.message_id)
