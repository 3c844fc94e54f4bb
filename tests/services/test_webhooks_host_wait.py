"""A receiver host at its concurrency limit: its other deliveries wait in the worker for a slot instead of going
back to the queue and reading their row again. Before, this burst cost 3.1 job runs per delivery (each busy
retry a job run and a SELECT); now about 1.3, the rest being jobs past the cap of waiters sent back once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arq.connections import ArqRedis
from prometheus_client import REGISTRY

from tests.services.test_webhooks_delivery import add_webhook, publish
from tests.services.webhook_receiver import DummyReceiver, running_worker, wait_deliveries, webhook_settings
from wagate.db.enums import DeliveryStatus
from wagate.queue.names import WORKER_QUEUE
from wagate.services.webhooks.delivery import DELIVER_JOB

EVENTS = 60


def job_runs() -> float:
    return sum(REGISTRY.get_sample_value("wagate_job_duration_seconds_count",
                                         {"queue": WORKER_QUEUE, "function": DELIVER_JOB, "outcome": outcome}) or 0.0
               for outcome in ("success", "retry", "failed", "timeout", "cancelled"))


async def test_a_busy_host_costs_few_job_runs_per_delivery(
        tmp_path: Path, database_url: str, redis_url: str, db: Any, arq_redis: ArqRedis) -> None:
    settings = webhook_settings(tmp_path, database_url, redis_url, WEBHOOK_HOST_CONCURRENCY="2")
    receiver = DummyReceiver()
    await receiver.start()
    receiver.delay_s = 0.05  # a receiver that takes its time: two POSTs at once keep it busy
    try:
        await add_webhook(db, settings, receiver.url, events=["message.received"])
        async with running_worker(settings):
            before = job_runs()
            for _ in range(EVENTS):
                await publish(arq_redis, "message.received")
            await wait_deliveries(db, EVENTS, timeout_s=60, status=DeliveryStatus.DELIVERED)
            runs = job_runs() - before
    finally:
        await receiver.stop()
    print(f"{EVENTS} deliveries to one host with 2 slots: {runs:.0f} job runs ({runs / EVENTS:.2f} per delivery)")
    assert len(receiver.requests) == EVENTS
    assert runs <= EVENTS * 1.6
