"""Webhook retries and signatures as a receiver sees them: the schedules, a receiver down for a long while, a
tampered request, and a worker process SIGKILLed with deliveries in flight. Real worker, Redis, local receiver."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from multidict import CIMultiDict

from tests.fixtures import make_settings
from tests.observability.processes import Child
from tests.services.test_webhooks_delivery import add_webhook, publish
from tests.services.webhook_receiver import (
    FAST,
    DummyReceiver,
    deliveries,
    running_worker,
    verify_compat,
    verify_wagate,
    wait_deliveries,
    webhook_settings,
)
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus, SignatureScheme
from wagate.services.webhooks.delivery import retry_gap


class Highest(random.Random):
    """The top of every jitter range."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_default_schedules_fast_with_jitter_then_slow_up_to_the_horizon(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert settings.webhook_horizon_h == 24.0
    fast = [1, 2, 4, 8, 16]
    for attempts, gap in enumerate(fast, start=1):
        assert retry_gap(settings, attempts, Highest()) == pytest.approx(gap * 1.2)  # the jitter's top: +20 %
        spread = [retry_gap(settings, attempts, random.Random(seed)) for seed in range(50)]
        assert all(gap <= s <= gap * 1.2 for s in spread) and len(set(spread)) > 1
    assert [retry_gap(settings, n, Highest()) for n in range(6, 12)] == [60, 300, 1800, 3600, 3600, 3600]

    # Attempts made until the next gap would pass 24 h after the first: the first, 5 after the fast gaps, 3 after
    # 1, 5 and 30 min (about 37 min in all so far), then 23 hourly ones.
    elapsed, attempts = 0.0, 1  # seconds since the first attempt, attempts made
    while elapsed + (wait := retry_gap(settings, attempts, random.Random(attempts))) <= 24 * 3600:
        elapsed, attempts = elapsed + wait, attempts + 1
    assert attempts == 1 + 5 + 3 + 23
    no_jitter = replace(settings, webhook_retry_jitter=0.0)
    assert [retry_gap(no_jitter, n) for n in range(1, 6)] == fast


async def test_three_failures_then_200_delivers_on_the_fourth_attempt_with_growing_gaps(
        tmp_path: Path, database_url: str, redis_url: str, db: Any, arq_redis: ArqRedis,
        receiver: DummyReceiver) -> None:
    # Each gap a second longer than the one before: an attempt's outcome is stored before its retry is enqueued,
    # so on a loaded machine a retry can start half a second or more after its time, never before it.
    settings = webhook_settings(tmp_path, database_url, redis_url, WEBHOOK_RETRY_FAST_S="0.4,1.4,2.6,3,5")
    await add_webhook(db, settings, receiver.url)
    receiver.answers.extend([500, 502, 503])
    async with running_worker(settings):
        body = await publish(arq_redis)
        [delivery] = await wait_deliveries(db, 1, status=DeliveryStatus.DELIVERED)

    assert [r.headers["X-WAGate-Delivery"] for r in receiver.requests] == [str(delivery.id)] * 4
    assert {r.body for r in receiver.requests} == {delivery.payload.encode()}
    assert body["id"] in delivery.payload
    log = delivery.attempt_log
    assert [(a.attempt, a.status_code) for a in log] == [(1, 500), (2, 502), (3, 503), (4, 200)]
    assert all(a.error and a.error.startswith(f"HTTP {a.status_code}") for a in log[:3]) and log[3].error is None
    assert delivery.attempts == 4 and delivery.last_status_code == 200
    arrived = [r.at for r in receiver.requests]
    measured = [b - a for a, b in zip(arrived, arrived[1:], strict=False)]
    stored = [(b.created_at - a.created_at).total_seconds() for a, b in zip(log, log[1:], strict=False)]
    print(f"gaps at the receiver {[round(g, 3) for g in measured]} s, between stored attempts "
          f"{[round(g, 3) for g in stored]} s")
    for gaps in (measured, stored):
        assert all(g >= want - 0.02 for g, want in zip(gaps, (0.4, 1.4, 2.6), strict=True)), gaps
        assert gaps[0] < gaps[1] < gaps[2], gaps


async def test_a_receiver_down_past_the_fast_attempts_gets_every_event_when_back(
        tmp_path: Path, database_url: str, redis_url: str, db: Any, arq_redis: ArqRedis,
        receiver: DummyReceiver) -> None:
    # Five fast attempts 0.1 s apart, then the slow schedule shortened to 0.3 s, 0.6 s, then every 0.6 s.
    settings = webhook_settings(tmp_path, database_url, redis_url, WEBHOOK_RETRY_SLOW_S="0.3,0.6")
    await add_webhook(db, settings, receiver.url)
    await receiver.stop()  # refused connections from the first attempt on
    async with running_worker(settings):
        published = [await publish(arq_redis, text=f"event {n}") for n in range(4)]
        await wait_deliveries(db, 4, attempts=7)  # every fast attempt and two slow ones each, all refused
        assert await deliveries(db, status=DeliveryStatus.DELIVERED) == []
        await receiver.start()
        delivered = await wait_deliveries(db, 4, status=DeliveryStatus.DELIVERED)

    assert sorted(r.body for r in receiver.requests) == sorted(d.payload.encode() for d in delivered)
    assert {d.payload for d in delivered} == {d.payload for d in delivered if any(
        f'"{e["id"]}"' in d.payload for e in published)} and len(delivered) == 4
    for delivery in delivered:
        log = delivery.attempt_log
        assert len(log) >= 8 and log[-1].status_code == 200
        assert all(a.status_code is None and a.error for a in log[:-1])  # refused while down, nothing answered
        assert [a.attempt for a in log] == list(range(1, len(log) + 1))


def tampered(request: Any, *, body: bytes | None = None, timestamp: int | None = None) -> Any:
    headers = CIMultiDict(request.headers)
    if timestamp is not None:
        headers["X-WAGate-Timestamp"] = str(timestamp)
    return replace(request, headers=headers, body=request.body if body is None else body)


async def test_a_changed_body_or_timestamp_fails_verification_in_both_schemes(
        db: Any, arq_redis: ArqRedis, tmp_path: Path, database_url: str, redis_url: str,
        receiver: DummyReceiver) -> None:
    """tests.services.webhook_receiver's verifiers are the receiver's own HMAC code, not the gateway's helper."""
    settings = webhook_settings(tmp_path, database_url, redis_url)
    _, wagate_secret = await add_webhook(db, settings, receiver.url + "/wagate")
    _, compat_secret = await add_webhook(db, settings, receiver.url + "/compat",
                                         signature_scheme=SignatureScheme.COMPAT)
    async with running_worker(settings):
        await publish(arq_redis, text="Transfer Rp 100.000")
        got = {r.path: r for r in await receiver.wait_for(2)}
    signed, compat = got["/hook/wagate"], got["/hook/compat"]
    assert verify_wagate(wagate_secret, signed) and verify_compat(compat_secret, compat)

    changed = signed.body.replace(b"100.000", b"900.000")
    assert changed != signed.body
    stamp = int(signed.headers["X-WAGate-Timestamp"])
    assert not verify_wagate(wagate_secret, tampered(signed, body=changed))
    assert not verify_wagate(wagate_secret, tampered(signed, body=signed.body + b" "))
    assert not verify_wagate(wagate_secret, tampered(signed, timestamp=stamp + 1))  # inside the window, yet refused
    assert not verify_wagate(wagate_secret, tampered(signed, timestamp=stamp - 1))
    assert not verify_wagate("another secret", signed)
    assert not verify_compat(compat_secret, tampered(compat, body=changed))
    assert not verify_compat(compat_secret, tampered(compat, body=compat.body[:-1]))
    # The compatibility scheme signs the body alone, as Laravel's webhook-client expects (README: no replay
    # window): its timestamp header is informative, so changing it cannot fail that scheme.
    assert verify_compat(compat_secret, tampered(compat, timestamp=stamp + 3600))
    assert not verify_compat(wagate_secret, compat)


def worker_process(settings: Settings, tmp_path: Path, name: str) -> Child:
    return Child.wagate(settings, tmp_path / f"{name}.log", "worker", **{**FAST, "WEBHOOK_TIMEOUT_S": "5"})


@pytest.mark.slow
async def test_a_sigkilled_worker_loses_no_event_and_reposts_nothing_recorded_as_delivered(
        tmp_path: Path, database_url: str, redis_url: str, db: Any, arq_redis: ArqRedis,
        receiver: DummyReceiver) -> None:
    settings = webhook_settings(tmp_path, database_url, redis_url)
    await add_webhook(db, settings, receiver.url)
    receiver.delay_s = 0.4  # answers take a while: at the kill, some POSTs are in flight
    count = 40
    first = worker_process(settings, tmp_path, "worker-1").start()
    second = worker_process(settings, tmp_path, "worker-2")
    try:
        published = [(await publish(arq_redis, text=f"event {n}"))["id"] for n in range(count)]
        await receiver.wait_for(12, timeout_s=30)
        first.stop()  # SIGKILL
        recorded = {str(d.id) for d in await deliveries(db, status=DeliveryStatus.DELIVERED)}
        posted_before = len(receiver.requests)
        second.start()
        done = await wait_deliveries(db, count, timeout_s=30, status=DeliveryStatus.DELIVERED)
    finally:
        first.stop()
        second.stop()

    posts = Counter(r.headers["X-WAGate-Delivery"] for r in receiver.requests)
    repeated = {d: n for d, n in posts.items() if n > 1}
    print(f"killed after {posted_before} POSTs with {len(recorded)} recorded delivered; "
          f"{len(receiver.requests)} POSTs in all, repeated: {repeated}")
    assert 0 < len(recorded) < count
    assert set(posts) == {str(d.id) for d in done}  # every delivery reached the receiver
    assert sorted(e for e in published) == sorted(next(e for e in published if f'"{e}"' in d.payload)
                                                  for d in done)  # one delivery per event, none lost
    assert not recorded & set(repeated), "a delivery recorded as delivered was POSTed again"
    bodies: dict[str, set[bytes]] = {}
    for request in receiver.requests:
        bodies.setdefault(request.headers["X-WAGate-Delivery"], set()).add(request.body)
    assert all(len(b) == 1 for b in bodies.values())  # a repeat is the same delivery, byte for byte
    assert all(d.status == DeliveryStatus.DELIVERED and d.attempt_log[-1].status_code == 200 for d in done)
