"""A message received while MariaDB restarts is stored and published once it is back, not dropped.

WhatsApp does not deliver a message again because the bridge failed to store it: before the bridge waited for
the database, such a message, and its `message.received` webhook, were lost (README "Fault tolerance").
The suite's MariaDB is stopped for real and started again on the same port.
"""

from __future__ import annotations

import asyncio

import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session
from tests.bridge.test_receiving import FROM, inbound
from tests.servers import MariaDBProcess
from wagate.config import Settings

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("database_url", ["mysql"], indirect=True)
async def test_a_message_received_while_mariadb_restarts_is_stored_and_published(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog, mariadb: MariaDBProcess,
) -> None:
    await add_session(db, "out1")
    await link_session(running, db, arq_redis, settings, "out1")
    await asyncio.to_thread(mariadb.stop)
    try:
        arrival = asyncio.create_task(running.sim.inject_message("out1", FROM, "sampai saat database mati"))
        await asyncio.sleep(2)
        assert not arrival.done()  # the bridge is waiting for the database, not done with the message
    finally:
        await asyncio.to_thread(mariadb.start)
    event = await asyncio.wait_for(arrival, timeout=30)
    rows = await inbound(db, "out1")
    assert [(r.wa_message_id, r.body) for r in rows] == [(event.message_id, "sampai saat database mati")]
    await event_log.wait_for(lambda e: e["event"] == "message.received" and e["data"]["messageId"] == event.message_id)
