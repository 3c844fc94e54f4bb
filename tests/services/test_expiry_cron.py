"""The subscription expiry cron: scheduled every minute on the worker, and run by a real worker it expires a
tenant whose WIB expiry has passed while leaving a future one active."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures import make_settings
from tests.workers import start_in_loop
from wagate.config import Settings
from wagate.db.enums import ActorType, TenantStatus
from wagate.db.models_identity import Tenant
from wagate.services.identity import tenants
from wagate.services.sessions.lifecycle import Actor
from workers.worker import CRON_JOBS, create_worker, subscription_expiry

Db = async_sessionmaker[AsyncSession]


async def test_scheduled_every_minute_and_at_start_up(tmp_path: Path) -> None:
    [job] = [job for job in CRON_JOBS if job.name == "cron:subscription_expiry"]
    assert job.coroutine is subscription_expiry and job.unique and job.run_at_startup
    assert (job.second, job.minute, job.hour) == (0, None, None)
    worker = create_worker(make_settings(tmp_path, REDIS_URL="redis://127.0.0.1:9"), handle_signals=False)
    assert "cron:subscription_expiry" in [c.name for c in worker.cron_jobs]
    assert "cron:outbox_sweep" in [c.name for c in worker.cron_jobs]  # the other cron stays


async def test_a_real_worker_expires_a_tenant_whose_wib_time_has_passed(db: Db, settings: Settings) -> None:
    assert settings.timezone == "Asia/Jakarta"
    wib_wall_clock = datetime.now(ZoneInfo("Asia/Jakarta")).replace(tzinfo=None, microsecond=0)
    actor = Actor(ActorType.INTERNAL, "svc")
    for user_id, expires in (("past", wib_wall_clock - timedelta(minutes=1)),
                             ("future", wib_wall_clock + timedelta(minutes=5))):
        await tenants.upsert_tenant(db, None, scope="svc", user_id=user_id, values={}, timezone=settings.timezone,
                                    actor=actor)
        async with db() as s, s.begin():  # straight into the row, as naive WIB read by the service's rule
            row = await s.scalar(select(Tenant).where(Tenant.user_id == user_id))
            assert row is not None
            row.expires_at = tenants.to_instant(expires, settings.timezone)  # status left active: the cron decides
    handle = await start_in_loop(create_worker(settings, handle_signals=False))
    try:
        deadline = time.monotonic() + 15
        while True:
            async with db() as s:
                status = {t.user_id: t.status for t in await s.scalars(select(Tenant))}
            if status["past"] == TenantStatus.EXPIRED or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await handle.stop()
    assert status == {"past": TenantStatus.EXPIRED, "future": TenantStatus.ACTIVE}
