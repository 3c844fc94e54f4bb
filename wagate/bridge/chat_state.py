"""Chat state changed on the session's own side (the phone, or another linked device): read, archived, pinned,
muted. Written to the chat's row and told as `chat.updated`, as a change made through the API is."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_whatsapp import WaSession
from wagate.services import events
from wagate.services.chats import activity
from wagate.transport.base import ChatStateChanged

log = structlog.get_logger(__name__)


def change_of(event: ChatStateChanged) -> activity.StateChange:
    until = None
    if event.muted and event.muted_until:  # 0: muted for ever
        until = datetime.fromtimestamp(event.muted_until, UTC)
    return activity.StateChange(read=event.read, archived=event.archived, pinned=event.pinned, muted=event.muted,
                                muted_until=until)


async def apply_chat_state(db: async_sessionmaker[AsyncSession], redis: Redis, event: ChatStateChanged) -> None:
    async with db() as session, session.begin():
        row = await session.get(WaSession, event.session_id)
        if row is None:
            return
        jid = await activity.resolve_jid(session, event.session_id, event.chat)
        chat = await activity.apply_state(session, event.session_id, jid, change_of(event))
        envelope = events.envelope("chat.updated", event.session_id, activity.chat_data(chat),
                                   timestamp=event.timestamp or None)
        tenant_id = row.tenant_id
    await events.publish_durably(redis, tenant_id, envelope, log=log, what="chat.updated",
                                 session_id=event.session_id, chat=jid)
