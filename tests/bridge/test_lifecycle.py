"""Session lifecycle through real arq jobs: QR → scan → WORKING, QR deadline, stop, logout, resume."""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, start_bridge, until, wait_status
from wagate.config import Settings
from wagate.db.enums import QrOutcome, SessionStatus
from wagate.db.models_whatsapp import QrCode
from wagate.queue.jobs import enqueue_session_command


async def qr_rows(db: async_sessionmaker[AsyncSession], session_id: str) -> list[QrCode]:
    async with db() as session:
        return list(await session.scalars(select(QrCode).where(QrCode.session_id == session_id).order_by(QrCode.id)))


async def test_qr_rotates_then_scan_links_the_session(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "s1")
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s1", "start")
    await wait_status(db, "s1", SessionStatus.SCAN_QR_CODE)

    async def rotated() -> bool:
        return len(await qr_rows(db, "s1")) >= 2

    await until(rotated, what="a second QR code")
    await running.sim.scan("s1", phone="6281234567890", push_name="Popeye")
    row = await wait_status(db, "s1", SessionStatus.WORKING)
    assert (row.phone, row.push_name, row.platform) == ("6281234567890", "Popeye", "android")
    assert row.jid and row.jid.startswith("6281234567890")
    codes = await qr_rows(db, "s1")
    assert [c.outcome for c in codes[:-1]] == [QrOutcome.EXPIRED] * (len(codes) - 1)
    assert codes[-1].outcome == QrOutcome.SCANNED and codes[-1].scanned_at is not None
    assert len({c.code_hash for c in codes}) == len(codes)
    await event_log.wait_for(lambda e: e["event"] == "connection.open")
    names = event_log.names("s1")
    assert names.count("qr.generated") == len(codes), (names, [(c.id, c.outcome) for c in codes])
    assert names.index("connection.open") > names.index("qr.generated")


async def test_unscanned_qr_codes_run_out_and_the_session_stops(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "s2")
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s2", "start")
    await wait_status(db, "s2", SessionStatus.SCAN_QR_CODE)
    row = await wait_status(db, "s2", SessionStatus.STOPPED, timeout=15)
    assert row.status_reason == "QR code not scanned in time"
    codes = await qr_rows(db, "s2")
    assert len(codes) == 6 and all(c.outcome == QrOutcome.EXPIRED for c in codes)


async def test_working_sessions_reconnect_after_a_bridge_restart_without_qr(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "s3")
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s3", "start")
    await wait_status(db, "s3", SessionStatus.SCAN_QR_CODE)
    await running.sim.scan("s3", phone="6281111111111")
    await wait_status(db, "s3", SessionStatus.WORKING)
    qr_before = len(await qr_rows(db, "s3"))
    await running.stop()
    again = await start_bridge(settings)
    try:
        await wait_status(db, "s3", SessionStatus.WORKING)
        await until(lambda: again.sim.is_connected("s3"), what="reconnect")
        assert len(await qr_rows(db, "s3")) == qr_before
    finally:
        await again.stop()


async def test_stop_then_logout(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "s4")
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s4", "start")
    await wait_status(db, "s4", SessionStatus.SCAN_QR_CODE)
    await running.sim.scan("s4", phone="6282222222222")
    await wait_status(db, "s4", SessionStatus.WORKING)
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s4", "stop")
    await wait_status(db, "s4", SessionStatus.STOPPED)
    assert not await running.sim.is_connected("s4")
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s4", "start")
    await wait_status(db, "s4", SessionStatus.WORKING)  # still linked: no QR needed
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s4", "logout")
    await wait_status(db, "s4", SessionStatus.LOGGED_OUT)
    await asyncio.sleep(0)
