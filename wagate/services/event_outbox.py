"""The events outbox: events written in the transaction of their change (`PendingEvent`), published, then deleted.

For events nothing else could make again. Publishing after the commit leaves a window, a bridge killed between
the two, in which the change is stored and its event is nowhere; a row written with the change closes it: the
worker's sweep publishes the rows older than a grace period and deletes them. A row published whose delete never
came is published again under the same event id, which fan-out turns into no second webhook.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_delivery import PendingEvent
from wagate.db.types import utcnow
from wagate.services import events

log = structlog.get_logger("wagate.events")

GRACE_S = 30.0  # a younger row may still be between its commit and its publish, in a process alive and well
SWEEP_LIMIT = 1000  # rows per sweep; a larger backlog drains over the following minutes


def pending(tenant_id: int | None, envelope: dict[str, Any]) -> PendingEvent:
    """The row to add in the change's own transaction."""
    return PendingEvent(tenant_id=tenant_id, body=events.encode(envelope))


async def forget(db_factory: async_sessionmaker[AsyncSession], ids: list[int]) -> None:
    """Delete the rows of events now on the stream."""
    async with db_factory() as db, db.begin():
        await db.execute(delete(PendingEvent).where(PendingEvent.id.in_(ids)))


async def sweep(db_factory: async_sessionmaker[AsyncSession], redis: Redis, *, grace_s: float = GRACE_S,
                limit: int = SWEEP_LIMIT) -> int:
    """Publish (to the stream only: dashboards re-read what they missed) the rows a dead process left; the count."""
    async with db_factory() as db:
        rows = (await db.execute(
            select(PendingEvent.id, PendingEvent.tenant_id, PendingEvent.body)
            .where(PendingEvent.created_at < utcnow() - timedelta(seconds=grace_s))
            .order_by(PendingEvent.id).limit(limit)
        )).all()
    if not rows:
        return 0
    by_tenant: dict[int | None, list[dict[str, Any]]] = {}
    for _, tenant_id, body in rows:
        by_tenant.setdefault(tenant_id, []).append(json.loads(body))
    for tenant_id, envelopes in by_tenant.items():
        await events.publish(redis, tenant_id, *envelopes, live=False)
    await forget(db_factory, [row.id for row in rows])
    log.info("pending events published by the sweep", count=len(rows),
             event_ids=[e["id"] for envelopes in by_tenant.values() for e in envelopes][:10])
    return len(rows)
