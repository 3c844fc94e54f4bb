"""The one writer of a session's status: updates the row and publishes `session.status` (and connection events).

Every endpoint reads the status from the row this module writes, so no two endpoints can disagree.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.services import events

log = structlog.get_logger(__name__)


async def set_status(
    db: async_sessionmaker[AsyncSession],
    redis: Redis,
    session_id: str,
    status: SessionStatus,
    *,
    reason: str | None = None,
    fields: dict[str, Any] | None = None,
    extra_events: list[tuple[str, dict[str, Any]]] | None = None,
) -> WaSession | None:
    """Write status (+ other columns) and publish the change; returns the row, or None if it was deleted."""
    async with db() as session, session.begin():
        row = await session.scalar(select(WaSession).where(WaSession.id == session_id).with_for_update())
        if row is None:
            return None
        previous = row.status
        row.status = status
        row.status_reason = reason
        for name, value in (fields or {}).items():
            setattr(row, name, value)
    published = []
    if previous != status or reason:
        published.append(events.envelope("session.status", session_id, {
            "status": status.value, "previous": previous.value, "reason": reason,
        }))
    for name, data in extra_events or ():
        published.append(events.envelope(name, session_id, data))
    # Dashboards recover a missed status by reading the row; webhooks have only the event: wait for Redis.
    await events.publish_durably(redis, row.tenant_id, *published, log=log, what="session events",
                                 session_id=session_id, status=status.value)
    log.info("session status", session_id=session_id, status=status.value, previous=previous.value, reason=reason)
    return row
