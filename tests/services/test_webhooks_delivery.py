"""Webhook delivery end to end: event published → fan-out reader → arq delivery job → a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import AsyncIterator
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
from wagate.services import events, webhooks


@pytest.fixture
async def receiver() -> AsyncIterator[DummyReceiver]:
    server = DummyReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def hook_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return webhook_settings(tmp_path, database_url, redis_url)


async def add_webhook(db: Any, settings: Settings, url: str, **data: Any) -> tuple[int, str]:
    webhook, secret = await webhooks.create_webhook(db, settings, ADMIN, {"url": url, "events": "*", **data})
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
