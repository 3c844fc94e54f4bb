"""Webhook fan-out against real Valkey and SQLite/MariaDB: scoping, filters, re-reads, crashes and a flushed Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog
from arq.connections import ArqRedis
from sqlalchemy import select

from tests.services.conftest import Rows
from tests.services.webhook_receiver import (
    ADMIN,
    DummyReceiver,
    deliveries,
    running_worker,
    verify_wagate,
    wait_deliveries,
    webhook_settings,
)
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus
from wagate.db.models_delivery import Webhook
from wagate.db.models_whatsapp import WaSession
from wagate.services import events
from wagate.services.webhooks import endpoints, fanout, secrets_box
from wagate.services.webhooks.delivery import sweep_deliveries

URL = "http://127.0.0.1:9/hook"  # never called here: these tests stop before delivery


@pytest.fixture
def hook_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return webhook_settings(tmp_path, database_url, redis_url)


async def add(db: Any, settings: Settings, **data: Any) -> int:
    webhook, _ = await endpoints.create_webhook(db, settings, ADMIN, {"url": URL, "events": "*", **data})
    return webhook.id


async def publish(redis: ArqRedis, event: str, session: str | None, tenant_id: int | None) -> str:
    body = events.envelope(event, session, {})
    await events.publish(redis, tenant_id, body)
    return body["id"]


async def read_all(redis: ArqRedis, consumer: str = "test") -> list[Any]:
    await fanout.ensure_group(redis)
    return await fanout.read_new(redis, consumer, block_ms=None)


async def test_scoping_and_event_filters(db: Any, arq_redis: ArqRedis, hook_settings: Settings, rows: Rows) -> None:
    t1, t2 = await rows.tenant("usr_1"), await rows.tenant("usr_2")
    await rows.session("s1", tenant_id=t1)
    await rows.session("s2", tenant_id=t2)
    everything = await add(db, hook_settings)
    only_sent = await add(db, hook_settings, events=["message.sent"])
    tenant1 = await add(db, hook_settings, tenant_id=t1)
    session2 = await add(db, hook_settings, session_id="s2", events=["message.received", "qr.generated"])
    await add(db, hook_settings, is_active=False)
    e1 = await publish(arq_redis, "message.received", "s1", t1)
    e2 = await publish(arq_redis, "message.sent", "s2", t2)
    e3 = await publish(arq_redis, "qr.generated", "s2", t2)
    e4 = await publish(arq_redis, "connection.open", None, None)

    await fanout.process(db, arq_redis, hook_settings, await read_all(arq_redis))

    got = {(d.webhook_id, d.event_id) for d in await deliveries(db)}
    assert got == {(everything, e) for e in (e1, e2, e3, e4)} | {(only_sent, e2), (tenant1, e1), (session2, e3)}


async def test_session_settings_act_as_a_session_webhook_with_a_stored_secret(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings, rows: Rows) -> None:
    await rows.session("s1", webhook_url=URL, webhook_events=["message.received"])
    wanted = await publish(arq_redis, "message.received", "s1", None)
    await publish(arq_redis, "message.sent", "s1", None)
    await fanout.process(db, arq_redis, hook_settings, await read_all(arq_redis))

    [delivery] = await deliveries(db)
    async with db() as s:
        webhook = await s.get(Webhook, delivery.webhook_id)
        session = await s.get(WaSession, "s1")
        assert delivery.event_id == wanted and webhook.session_id == "s1" and webhook.url == URL
        assert webhook.secret_encrypted == session.webhook_secret_encrypted  # generated once, kept on both
        assert secrets_box.decrypt(hook_settings.encryption_key, webhook.secret_encrypted).startswith("whsec_")
        session.webhook_url = None
        await s.commit()
    await publish(arq_redis, "message.received", "s1", None)
    await fanout.process(db, arq_redis, hook_settings, await read_all(arq_redis))
    assert len(await deliveries(db)) == 1  # settings cleared: the mirrored webhook is inactive


async def test_reading_twice_or_in_two_readers_writes_one_delivery_per_webhook_and_event(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings) -> None:
    for _ in range(2):
        await add(db, hook_settings)
    ids = [await publish(arq_redis, "message.received", "s1", None) for _ in range(5)]
    entries = await read_all(arq_redis, "first")

    assert await fanout.process(db, arq_redis, hook_settings, entries) == 10
    assert await fanout.process(db, arq_redis, hook_settings, entries) == 0  # their jobs exist already
    found = await deliveries(db)
    assert len(found) == 10 and {d.event_id for d in found} == set(ids)
    assert len(await arq_redis.zrange("wagate:queue:worker", 0, -1)) == 10


async def test_a_reader_killed_mid_batch_loses_nothing_and_a_flushed_redis_is_swept(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings, valkey: Any) -> None:
    receiver = DummyReceiver()
    await receiver.start()
    try:
        _, secret = await endpoints.create_webhook(db, hook_settings, ADMIN, {"url": receiver.url, "events": "*"})
        ids = {await publish(arq_redis, "message.received", "s1", None) for _ in range(20)}
        # A reader takes the batch and dies before acknowledging it, with half of its deliveries written.
        taken = await read_all(arq_redis, "dead-reader")
        await fanout.fan_out(db, arq_redis, hook_settings, fanout.parse_entries(taken[:10])[0])
        assert await arq_redis.xpending(events.EVENT_STREAM, fanout.GROUP) == {
            **await arq_redis.xpending(events.EVENT_STREAM, fanout.GROUP), "pending": 20}
        # Redis is flushed before any job ran: the queued jobs are gone, the rows are not.
        claimed = await fanout.claim_stale(arq_redis, "live-reader", min_idle_ms=0)
        assert len(claimed) == 20
        await fanout.process(db, arq_redis, hook_settings, claimed[:15])  # crashes again after 15
        valkey.flushall()
        assert await sweep_deliveries(db, arq_redis, grace_s=0) == 15  # the written ones are re-enqueued
        # The stream went with the flush; the rest of the events were only in Redis (see the README).
        async with running_worker(hook_settings):
            await wait_deliveries(db, 15, status=DeliveryStatus.DELIVERED)
            await receiver.wait_for(15)
        delivered = await deliveries(db)
        assert len(delivered) == 15 and {d.event_id for d in delivered} <= ids
        assert len(receiver.requests) == 15  # nothing twice to a healthy receiver
        assert {r.headers["X-WAGate-Delivery"] for r in receiver.requests} == {str(d.id) for d in delivered}
        assert all(verify_wagate(secret, r) for r in receiver.requests)
    finally:
        await receiver.stop()


async def test_the_worker_started_after_events_delivers_them_and_never_logs_a_secret(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings) -> None:
    receiver = DummyReceiver()
    await receiver.start()
    try:
        _, secret = await endpoints.create_webhook(db, hook_settings, ADMIN, {"url": receiver.url, "events": "*"})
        async with db() as s:
            stored = (await s.scalars(select(Webhook.secret_encrypted))).one()
        assert secret not in stored and secrets_box.decrypt(hook_settings.encryption_key, stored) == secret
        for _ in range(3):
            await publish(arq_redis, "message.received", None, None)  # before any worker exists
        with structlog.testing.capture_logs() as logs:
            async with running_worker(hook_settings):
                await wait_deliveries(db, 3, status=DeliveryStatus.DELIVERED)
        assert any(entry["event"] == "webhook attempt" for entry in logs)
        assert secret not in repr(logs)
    finally:
        await receiver.stop()
