"""The bridge on the real neonize transport, with whatsmeow played by a double at neonize's Go boundary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import RunningBridge, add_session, start_bridge, until, wait_status
from tests.transport.whatsmeow_double import WhatsmeowDouble, whatsmeow  # noqa: F401 - the fixture
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.queue.jobs import enqueue_session_command
from wagate.queue.names import bridge_queue
from wagate.transport.neonize import NeonizeTransport

pytestmark = pytest.mark.parametrize("bridge_env", [{"WA_TRANSPORT": "neonize"}])
PHONE = "6281234567890"


@pytest.fixture
async def neonize_bridge(settings: Settings, whatsmeow: WhatsmeowDouble) -> AsyncIterator[RunningBridge]:  # noqa: F811
    handle = await start_bridge(settings)
    assert isinstance(handle.bridge.transport, NeonizeTransport)
    yield handle
    await handle.stop()


def transport(handle: RunningBridge) -> NeonizeTransport:
    assert isinstance(handle.bridge.transport, NeonizeTransport)
    return handle.bridge.transport


async def command(redis: ArqRedis, settings: Settings, session_id: str, name: str) -> None:
    """Run a session command through the bridge's queue and wait for its job to finish."""
    job_id = await enqueue_session_command(redis, settings.bridge_shards, session_id, name)
    await Job(job_id, redis, _queue_name=bridge_queue(0)).result(timeout=30)


async def test_stop_and_restart_during_qr_reach_their_status_within_seconds(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "s1")
    await command(arq_redis, settings, "s1", "start")
    await wait_status(db, "s1", SessionStatus.SCAN_QR_CODE)

    timings = {}
    for name, status in (("stop", SessionStatus.STOPPED), ("start", SessionStatus.SCAN_QR_CODE),
                         ("restart", SessionStatus.SCAN_QR_CODE), ("stop", SessionStatus.STOPPED),
                         ("start", SessionStatus.SCAN_QR_CODE)):
        started = time.monotonic()
        await command(arq_redis, settings, "s1", name)
        await wait_status(db, "s1", status, timeout=10)
        timings[name] = round(time.monotonic() - started, 2)
    assert whatsmeow.stuck == transport(neonize_bridge).abandoned_calls == 3

    whatsmeow.scan(transport(neonize_bridge).client("s1").uuid, PHONE)  # the live client's code is scanned
    row = await wait_status(db, "s1", SessionStatus.WORKING)
    assert row.phone == PHONE
    print(f"\nseconds to the named status: {timings}")


async def test_the_bridge_restarts_itself_when_stuck_calls_pile_up(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings,
) -> None:
    recycled: list[bool] = []
    neonize_bridge.bridge.recycle = lambda: recycled.append(True)
    transport(neonize_bridge).max_abandoned = 2
    await add_session(db, "s1")
    for _ in range(3):
        await command(arq_redis, settings, "s1", "start")
        await wait_status(db, "s1", SessionStatus.SCAN_QR_CODE)
        await command(arq_redis, settings, "s1", "stop")
        await wait_status(db, "s1", SessionStatus.STOPPED)

    await until(lambda: asyncio.sleep(0, bool(recycled)), what="the bridge asking for a restart")
    assert recycled == [True]  # once, however many more pile up while it drains
