"""Events made while Redis restarts are published once it is back, not dropped.

Webhooks are made from the durable event stream alone, and the changes behind these events are already (or
about to be) written: an incoming message WhatsApp will not deliver again, receipts, a dropped connection.
Before the bridge waited for Redis, such an event was logged and lost, and with it its webhook (the fault
bench's Valkey restart found one `message.received` missing). The Valkey here is the production kind, with an
fsynced append-only file, and is stopped for real and started again on the same port.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import RunningBridge, add_session, link_session, until
from tests.bridge.test_receipts import NO_PACING, rows, sent_without_receipts
from tests.bridge.test_receiving import FROM, inbound
from tests.servers import ValkeyProcess
from wagate.config import Settings
from wagate.db.enums import MessageStatus
from wagate.services.events import EVENT_STREAM

# Redis is what goes away here; the database stays up, so one engine shows it (the MariaDB outage has its own test).
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]
OUTAGE_S = 2.0


@pytest.fixture(scope="module")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyProcess]:
    """This module's own Valkey, persistent as in production, so stopping it disturbs no other test."""
    server = ValkeyProcess(persistent=True, base_dir=tmp_path_factory.mktemp("valkey"))
    server.start()
    yield server
    server.cleanup()


async def streamed(redis: ArqRedis, name: str) -> list[dict[str, Any]]:
    """The events of that name in the durable stream, oldest first."""
    events = [json.loads(fields[b"event"]) for _, fields in await redis.xrange(EVENT_STREAM)]
    return [e for e in events if e["event"] == name]


async def wait_streamed(redis: ArqRedis, name: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        nonlocal found
        found = await streamed(redis, name)
        return len(found) >= count

    await until(enough, timeout=30, what=f"{count} {name} in the stream")
    return found


async def test_a_message_received_while_redis_restarts_reaches_the_stream_once(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    valkey: ValkeyProcess,
) -> None:
    await add_session(db, "in1")
    await link_session(running, db, arq_redis, settings, "in1")
    await asyncio.to_thread(valkey.stop)
    try:
        arrival = asyncio.create_task(running.sim.inject_message("in1", FROM, "dikirim saat redis mati"))
        await asyncio.sleep(OUTAGE_S)
        assert not arrival.done()  # the bridge is waiting for Redis, not done with the message
        # Stored meanwhile: the database is up; only the event waits.
        assert [r.body for r in await inbound(db, "in1")] == ["dikirim saat redis mati"]
    finally:
        await asyncio.to_thread(valkey.start)
    message = await asyncio.wait_for(arrival, timeout=30)
    received = await wait_streamed(arq_redis, "message.received", 1)
    await asyncio.sleep(1)  # a second copy would show here
    assert [e["data"]["messageId"] for e in await streamed(arq_redis, "message.received")] == [message.message_id]
    assert received[0]["session"] == "in1"


@pytest.mark.parametrize("bridge_env", [NO_PACING])
async def test_receipts_during_a_redis_restart_move_their_rows_after_their_events(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    valkey: ValkeyProcess,
) -> None:
    sent = await sent_without_receipts(running, db, arq_redis, settings, "rc1")
    opened = sent[:3]
    await asyncio.to_thread(valkey.stop)
    try:
        opening = asyncio.create_task(running.sim.read_by_recipient("rc1", [m.wa_message_id or "" for m in opened]))
        await asyncio.sleep(OUTAGE_S)
        # Events first, then rows: while the events wait, no row has moved.
        assert {m.status for m in await rows(db, "rc1")} == {MessageStatus.SENT}
    finally:
        await asyncio.to_thread(valkey.start)
    await asyncio.wait_for(opening, timeout=30)
    read = await wait_streamed(arq_redis, "message.read", 3)
    assert sorted(e["data"]["id"] for e in read) == [m.id for m in opened]

    async def moved() -> bool:
        return [m.status for m in (await rows(db, "rc1"))[:4]] == [MessageStatus.READ] * 3 + [MessageStatus.SENT]

    await until(moved, what="the opened messages read, the others still sent")


async def test_a_connection_lost_during_a_redis_restart_is_announced_once_it_is_back(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    valkey: ValkeyProcess,
) -> None:
    await add_session(db, "cx1")
    await link_session(running, db, arq_redis, settings, "cx1")
    await arq_redis.delete(EVENT_STREAM)
    await asyncio.to_thread(valkey.stop)
    try:
        dropping = asyncio.create_task(running.sim.drop_connection("cx1", reconnect=False, reason="network down"))
        await asyncio.sleep(OUTAGE_S)
    finally:
        await asyncio.to_thread(valkey.start)
    await asyncio.wait_for(dropping, timeout=30)
    closed = await wait_streamed(arq_redis, "connection.close", 1)
    assert closed[0]["data"]["reason"] == "network down"
    statuses = await wait_streamed(arq_redis, "session.status", 1)
    assert (statuses[0]["session"], statuses[0]["data"]["status"]) == ("cx1", "STOPPED")
