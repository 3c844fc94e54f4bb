"""Webhook delivery end to end: event published → fan-out reader → arq delivery job → a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis

from tests.services.webhook_receiver import (
    ADMIN,
    DummyReceiver,
    running_worker,
    verify_compat,
    verify_wagate,
    wait_deliveries,
    webhook_settings,
)
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus, SignatureScheme
from wagate.services import events
from wagate.services.webhooks import endpoints


@pytest.fixture
def hook_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return webhook_settings(tmp_path, database_url, redis_url)


async def add_webhook(db: Any, settings: Settings, url: str, **data: Any) -> tuple[int, str]:
    webhook, secret = await endpoints.create_webhook(db, settings, ADMIN, {"url": url, "events": "*", **data})
    return webhook.id, secret


async def publish(redis: ArqRedis, event: str = "message.received", session: str | None = None,
                  tenant_id: int | None = None, **data: Any) -> dict[str, Any]:
    body = events.envelope(event, session, data or {"text": "halo"})
    await events.publish(redis, tenant_id, body)
    return body


async def test_both_signature_schemes_verify_as_a_receiver_checks_them(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings, receiver: DummyReceiver) -> None:
    _, wagate_secret = await add_webhook(db, hook_settings, receiver.url + "/wagate")
    _, compat_secret = await add_webhook(db, hook_settings, receiver.url + "/compat",
                                         signature_scheme=SignatureScheme.COMPAT)
    async with running_worker(hook_settings):
        body = await publish(arq_redis, text="Halo, saya ingin pinjam ruang")
        got = {r.path: r for r in await receiver.wait_for(2)}
        found = await wait_deliveries(db, 2, status=DeliveryStatus.DELIVERED)

    signed, compat = got["/hook/wagate"], got["/hook/compat"]
    for request in (signed, compat):
        assert json.loads(request.body) == body  # the exact envelope, byte for byte what was stored
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("WA-Gate/")
        assert request.headers["X-WAGate-Event"] == "message.received"
        assert request.headers["X-WAGate-Delivery"] in {str(d.id) for d in found}
    assert {d.payload.encode() for d in found} == {signed.body}
    assert verify_wagate(wagate_secret, signed)
    assert not verify_wagate(compat_secret, signed)
    assert "Signature" not in signed.headers
    assert verify_compat(compat_secret, compat)
    assert "X-WAGate-Signature" not in compat.headers
    # The replay window: the same request presented ten minutes later is refused by the receiver.
    assert not verify_wagate(wagate_secret, signed, now=time.time() + 600)
    assert all(d.attempts == 1 and d.attempt_log[0].status_code == 200 for d in found)


async def test_a_receiver_down_for_a_while_gets_the_event_when_it_is_back(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings, receiver: DummyReceiver) -> None:
    await add_webhook(db, hook_settings, receiver.url)
    receiver.answers.extend([500, 503])
    async with running_worker(hook_settings):
        await publish(arq_redis)
        await receiver.wait_for(2)
        await receiver.stop()  # now connections are refused
        await wait_deliveries(db, 1, attempts=4)
        await receiver.start()
        [delivery] = await wait_deliveries(db, 1, status=DeliveryStatus.DELIVERED)

    log = delivery.attempt_log
    assert [a.status_code for a in log[:2]] == [500, 503]
    assert all(a.status_code is None and a.error for a in log[2:-1])  # refused connections
    assert log[-1].status_code == 200 and delivery.attempts == len(log) >= 4
    assert [a.attempt for a in log] == list(range(1, len(log) + 1))
    assert delivery.delivered_at is not None and delivery.last_status_code == 200


async def test_410_fails_at_once_and_408_429_are_retried(
        db: Any, arq_redis: ArqRedis, hook_settings: Settings, receiver: DummyReceiver) -> None:
    gone_id, _ = await add_webhook(db, hook_settings, receiver.url + "/gone")
    busy_id, _ = await add_webhook(db, hook_settings, receiver.url + "/busy")
    receiver.path_answers = {"/hook/gone": deque([410]), "/hook/busy": deque([408, 429])}
    async with running_worker(hook_settings):
        await publish(arq_redis)
        [delivered] = await wait_deliveries(db, 1, status=DeliveryStatus.DELIVERED)
        [failed] = await wait_deliveries(db, 1, status=DeliveryStatus.FAILED)

    assert failed.webhook_id == gone_id and delivered.webhook_id == busy_id
    assert failed.attempts == 1 and failed.last_status_code == 410 and failed.next_attempt_at is None
    assert [a.status_code for a in failed.attempt_log] == [410]
    assert [a.status_code for a in delivered.attempt_log] == [408, 429, 200]


async def test_exhausted_after_the_horizon_then_redelivered_one_and_in_bulk(
        tmp_path: Path, database_url: str, redis_url: str, db: Any, arq_redis: ArqRedis,
        receiver: DummyReceiver) -> None:
    # A 3 s horizon: on a loaded machine, 0.1 s gaps still fit three attempts and more before it.
    settings = webhook_settings(tmp_path, database_url, redis_url, WEBHOOK_HORIZON_H=str(3.0 / 3600))
    webhook_id, _ = await add_webhook(db, settings, receiver.url)
    receiver.status = 500
    async with running_worker(settings):
        for _ in range(3):
            await publish(arq_redis)
        exhausted = await wait_deliveries(db, 3, status=DeliveryStatus.EXHAUSTED)
        assert all(d.attempts >= 3 and d.next_attempt_at is None for d in exhausted)
        tried = len(receiver.requests)

        receiver.status = 200
        one = await endpoints.redeliver(db, arq_redis, ADMIN, exhausted[0].id)
        [delivered] = await wait_deliveries(db, 1, status=DeliveryStatus.DELIVERED)
        assert delivered.id == one.id and delivered.attempts == exhausted[0].attempts + 1
        assert await endpoints.redeliver_all(db, arq_redis, ADMIN, webhook_id, DeliveryStatus.EXHAUSTED) == 2
        await wait_deliveries(db, 3, status=DeliveryStatus.DELIVERED)
    assert len(receiver.requests) == tried + 3


async def test_a_dead_slow_receiver_does_not_delay_another(
        tmp_path: Path, database_url: str, redis_url: str, db: Any, arq_redis: ArqRedis) -> None:
    """80 events for a receiver that never answers in time (more than the worker's 50 job slots), then 30 for a
    healthy one: the healthy one is served about as fast as with nothing else going on, because the slow host
    holds at most WEBHOOK_HOST_CONCURRENCY slots and its other jobs go back to the queue instead of waiting."""
    # The slow host's 4 POSTs are cut off after 8 s and tried again: counting its requests shows the cap only
    # before then, which the healthy receiver's 30 deliveries must not take (< 4 s, asserted below).
    settings = webhook_settings(tmp_path, database_url, redis_url, WEBHOOK_TIMEOUT_S="8",
                                WEBHOOK_HOST_CONCURRENCY="4")
    slow, fast = DummyReceiver(), DummyReceiver()
    await slow.start()
    await fast.start()
    slow.delay_s = 10

    async def thirty_to_the_healthy_one() -> float:
        started, before = time.monotonic(), len(fast.requests)
        for _ in range(30):
            await publish(arq_redis, "message.received")
        await fast.wait_for(before + 30, timeout_s=15)
        return time.monotonic() - started

    try:
        # Two hosts: 127.0.0.1 and localhost are two receivers as far as connection limits go.
        await add_webhook(db, settings, slow.url, events=["message.sent"])
        await add_webhook(db, settings, fast.url.replace("127.0.0.1", "localhost"), events=["message.received"])
        async with running_worker(settings):
            alone = await thirty_to_the_healthy_one()
            for _ in range(80):
                await publish(arq_redis, "message.sent")
            await slow.wait_for(4)
            beside = await thirty_to_the_healthy_one()
            assert len(slow.requests) <= 4  # the per-host cap: the other 76 wait without a slot
            slow.delay_s = 0  # back to health: everything queued for it is delivered, nothing is lost
            await wait_deliveries(db, 140, timeout_s=40, status=DeliveryStatus.DELIVERED)
    finally:
        await slow.stop()
        await fast.stop()
    print(f"30 deliveries to a healthy receiver: alone {alone * 1000:.0f} ms, beside a dead slow one "
          f"{beside * 1000:.0f} ms")
    assert beside < 4  # well under the slow receiver's timeout: no healthy delivery waited behind a slow one
    assert beside < alone * 3 + 0.5
