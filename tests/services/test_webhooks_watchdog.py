"""The worker's watchdog over webhook deliveries: one left unattempted well past its due time is counted, logged as
an error, shown in health and its lost job enqueued again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from tests.services.webhook_receiver import ADMIN, webhook_settings
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus
from wagate.db.models_delivery import WebhookDelivery
from wagate.db.types import utcnow
from wagate.observability import stalls
from wagate.services.webhooks import endpoints
from wagate.services.webhooks.delivery import LATE_AFTER_S
from workers import webhook_jobs


@pytest.fixture
def hook_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return webhook_settings(tmp_path, database_url, redis_url)


async def delivery_due(db: Any, webhook_id: int, seconds_ago: float) -> int:
    async with db() as session, session.begin():
        row = WebhookDelivery(webhook_id=webhook_id, event_id=f"evt_late{seconds_ago:.0f}", event="message.received",
                              payload="{}", status=DeliveryStatus.PENDING,
                              next_attempt_at=utcnow() - timedelta(seconds=seconds_ago))
        session.add(row)
        await session.flush()
        return row.id


async def test_a_delivery_late_past_the_bound_is_reported_and_its_job_enqueued_again(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings) -> None:
    webhook, _ = await endpoints.create_webhook(db, hook_settings, ADMIN,
                                                {"url": "http://127.0.0.1:9/h", "events": "*"})
    ctx = {"db": db, "redis": arq_redis}
    await delivery_due(db, webhook.id, 30)  # due, not late: swept, not reported
    assert await webhook_jobs.webhook_sweep(ctx) == 1
    assert await stalls.current(arq_redis, 1) == []

    late_id = await delivery_due(db, webhook.id, LATE_AFTER_S + 60)
    before = REGISTRY.get_sample_value("wagate_stalls_total", {"kind": "webhook_late"}) or 0.0
    with capture_logs() as logs:
        assert await webhook_jobs.webhook_sweep(ctx) == 1  # the late one's job (the other's is queued already)

    assert REGISTRY.get_sample_value("wagate_stalls_total", {"kind": "webhook_late"}) == before + 1
    assert [e for e in logs if e["log_level"] == "error" and e.get("kind") == "webhook_late"]
    assert [(s["reporter"], s["kind"], s["count"]) for s in await stalls.current(arq_redis, 1)] == [
        ("webhooks", "webhook_late", 1)]
    assert f"webhook:{late_id}:1" in {j.decode() for j in await arq_redis.zrange("wagate:queue:worker", 0, -1)}
