"""Contacts' presence: online, offline, typing or recording in a chat, published as `presence.update`.

Nothing is stored: presence is only true for a moment, so it goes to live dashboards and webhooks as it comes.
"""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_whatsapp import WaSession
from wagate.services import events
from wagate.transport.base import PresenceUpdated

log = structlog.get_logger(__name__)


def presence_data(event: PresenceUpdated) -> dict[str, object]:
    return {"chat": event.chat, "from": event.sender, "state": event.state,
            "lastSeen": int(event.last_seen) if event.last_seen else None}


async def publish_presence(db: async_sessionmaker[AsyncSession], redis: Redis, event: PresenceUpdated) -> None:
    async with db() as session:
        row = await session.get(WaSession, event.session_id)
        if row is None:
            return
        tenant_id = row.tenant_id
    await events.publish_durably(redis, tenant_id, events.envelope("presence.update", event.session_id,
                                                                   presence_data(event)),
                                 log=log, what="presence.update", session_id=event.session_id)
