"""An incoming message's event is written with the message, so a bridge that dies before publishing it loses no
webhook: the worker's sweep publishes what such a bridge left, and a message published as usual leaves nothing.

The window is held open on purpose (the bridge's publish never returns, then the bridge is stopped, as a SIGKILL
would stop it there); the real worker's sweep, fan-out and delivery then bring the webhook to a real receiver.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import add_session, link_session, start_bridge, until
from tests.bridge.test_receiving import FROM, inbound
from tests.services.webhook_receiver import ADMIN, FAST, DummyReceiver, listening, running_worker
from wagate.config import Settings
from wagate.db.models_delivery import PendingEvent
from wagate.db.types import utcnow
from wagate.services import event_outbox, events
from wagate.services.events import EVENT_STREAM
from wagate.services.webhooks import endpoints
from workers.worker import CRON_JOBS


@pytest.fixture
def bridge_env() -> dict[str, str]:
    return FAST  # the worker's webhook settings: loopback receivers allowed, short retries


@pytest.fixture
async def receiver() -> AsyncIterator[DummyReceiver]:
    async with listening() as server:
        yield server


async def pending_rows(db: async_sessionmaker[AsyncSession]) -> list[PendingEvent]:
    async with db() as session:
        return list(await session.scalars(select(PendingEvent).order_by(PendingEvent.id)))


async def streamed(redis: ArqRedis) -> list[dict[str, Any]]:
    return [json.loads(fields[b"event"]) for _, fields in await redis.xrange(EVENT_STREAM)]


async def test_a_message_published_as_usual_leaves_no_pending_event(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    bridge = await start_bridge(settings)
    try:
        await add_session(db, "ob1")
        await link_session(bridge, db, arq_redis, settings, "ob1")
        message = await bridge.sim.inject_message("ob1", FROM, "biasa saja")
    finally:
        await bridge.stop()
    [received] = [e for e in await streamed(arq_redis) if e["event"] == "message.received"]
    assert received["data"]["messageId"] == message.message_id
    assert await pending_rows(db) == []


async def test_a_bridge_dead_between_storing_and_publishing_loses_no_webhook(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, receiver: DummyReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await endpoints.create_webhook(db, settings, ADMIN, {
        "url": receiver.url, "events": ["message.received"]})
    bridge = await start_bridge(settings)
    never = asyncio.Event()
    try:
        await add_session(db, "ob2")
        await link_session(bridge, db, arq_redis, settings, "ob2")

        async def dies_before_publishing(*args: Any, **kwargs: Any) -> bool:
            await never.wait()
            return False

        monkeypatch.setattr(events, "publish_durably", dies_before_publishing)
        arrival = asyncio.create_task(bridge.sim.inject_message("ob2", FROM, "pesan di ujung hidup bridge"))

        async def stored() -> bool:
            return len(await inbound(db, "ob2")) == 1

        await until(stored, what="the message stored")
    finally:
        await bridge.stop()
        arrival.cancel()
        await asyncio.gather(arrival, return_exceptions=True)
        monkeypatch.undo()
    [row] = await inbound(db, "ob2")
    [pending] = await pending_rows(db)
    body = json.loads(pending.body)
    assert (body["event"], body["id"], body["data"]["id"], body["data"]["message"]) == (
        "message.received", events.message_event_id("message.received", "ob2", row.id), row.id,
        "pesan di ujung hidup bridge")
    assert [e for e in await streamed(arq_redis) if e["event"] == "message.received"] == []

    # A sweep leaves a row younger than its grace alone: its process may be about to publish it.
    assert await event_outbox.sweep(db, arq_redis) == 0
    async with db() as session, session.begin():  # the bridge died a minute ago
        await session.execute(update(PendingEvent).values(created_at=utcnow() - timedelta(minutes=1)))
    async with running_worker(settings):  # its sweep runs at start, then every minute

        async def delivered() -> bool:
            return len(receiver.requests) >= 1

        await until(delivered, timeout=20, what="the webhook of the message")
    [request] = receiver.requests
    assert json.loads(request.body) == body
    assert await pending_rows(db) == []


def test_the_worker_sweeps_pending_events_every_minute() -> None:
    [job] = [j for j in CRON_JOBS if j.name == "cron:event_outbox_sweep"]
    assert job.unique and job.run_at_startup and (job.second, job.minute, job.hour) == (15, None, None)
