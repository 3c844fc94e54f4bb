"""Contacts' statuses (stories): they arrive as messages of the chat `status@broadcast`, are stored as such (the
status list reads them back), and are told as `status.received` besides `message.received`."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_whatsapp import WaSession
from wagate.services import events
from wagate.transport.base import STATUS_JID, MessageReceived

log = structlog.get_logger(__name__)


async def received(db: async_sessionmaker[AsyncSession], redis: Redis, event: MessageReceived) -> None:
    if event.chat != STATUS_JID or event.from_me:
        return
    async with db() as session:
        tenant_id = await session.scalar(WaSession.__table__.select().with_only_columns(WaSession.tenant_id)
                                         .where(WaSession.id == event.session_id))
    data = {"messageId": event.message_id, "from": event.sender, "pushName": event.push_name, "type": event.type,
            "text": event.text, "caption": event.media.caption if event.media else None}
    await events.publish_durably(redis, tenant_id, events.envelope("status.received", event.session_id, data,
                                                                   timestamp=event.timestamp or None),
                                 log=log, what="status.received", session_id=event.session_id)
