"""Event export against real NATS JetStream and RabbitMQ servers: 10,000 events through a broker restart, in order
per session, none lost, duplicates only under the same event id; consumed with the README's consumer examples."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import nats
import pytest

from examples.exports import nats_consumer, rabbitmq_consumer
from tests.broker_servers import NatsProcess, RabbitMQProcess
from tests.services.conftest import Rows
from tests.services.webhook_receiver import ADMIN, running_worker, webhook_settings
from wagate.config import Settings
from wagate.db.enums import BrokerKind
from wagate.services import events
from wagate.services.exports import backlog, endpoints

EVENTS = 10_000
STOP_AFTER = 3_000
CHUNK = 100
SESSIONS = ("s1", "s2", "s.3", "s4")


@pytest.fixture
def export_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return webhook_settings(tmp_path, database_url, redis_url, JOB_LEASE_S="5")


class Received:
    """What a consumer handed over: (subject, event) in arrival order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    async def handle(self, subject: str, event: dict[str, Any]) -> None:
        self.items.append((subject, event))

    async def wait_for(self, count: int, timeout_s: float, redis: Any) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.items) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.items)} of {count} events consumed after {timeout_s} s; exports: "
                                   f"{await backlog.figures(redis)}")
            await asyncio.sleep(0.1)


async def publish_through_restart(redis: Any, tenant_id: int, server: NatsProcess | RabbitMQProcess,
                                  received: Received) -> dict[str, list[int]]:
    """Publish EVENTS events over SESSIONS the way the gateway does; stop the broker after STOP_AFTER of them and
    start it again once all are published. Returns the ids sent per session, in order."""
    sent: dict[str, list[int]] = defaultdict(list)
    for start in range(0, EVENTS, CHUNK):
        if start == STOP_AFTER:
            await asyncio.sleep(0.5)
            assert len(received.items) < EVENTS
            await asyncio.to_thread(server.stop)
        bodies = []
        for seq in range(start, start + CHUNK):
            session = SESSIONS[seq % len(SESSIONS)]
            bodies.append(events.envelope("message.received", session, {"seq": seq}))
            sent[session].append(seq)
        await events.publish(redis, tenant_id, *bodies, live=False)
    await asyncio.sleep(1.0)  # the exporter meets the broker down
    await asyncio.to_thread(server.start)
    return sent


async def arrange(db: Any, redis: Any, settings: Settings, rows: Rows, kind: BrokerKind, url: str, target: str
                  ) -> int:
    """A tenant with SESSIONS and a global export of every event to the broker; returns the tenant's id."""
    tenant_id = await rows.tenant()
    for session in SESSIONS:
        await rows.session(session, tenant_id=tenant_id)
    await endpoints.create_export(db, redis, settings, ADMIN, {"kind": kind, "url": url, "target": target,
                                                               "prefix": "wagate", "events": "*"})
    return tenant_id


def check(received: Received, sent: dict[str, list[int]], tenant_id: int, stream_ids: int) -> None:
    seqs: dict[str, list[int]] = defaultdict(list)
    for subject, event in received.items:
        assert subject == f"wagate.{tenant_id}.{event['session'].replace('.', '%2E')}.message.received"
        seqs[event["session"]].append(event["data"]["seq"])
    assert dict(seqs) == dict(sent)  # every event, once each after the consumer's dedupe, in order per session
    assert len({e["id"] for _, e in received.items}) == EVENTS == stream_ids


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_nats_ten_thousand_events_through_a_restart(export_settings: Settings, db: Any, arq_redis: Any,
                                                          rows: Rows, nats_server: NatsProcess) -> None:
    nats_server.ensure_running()
    tenant_id = await arrange(db, arq_redis, export_settings, rows, BrokerKind.NATS, nats_server.url, "WAGATE_RESTART")
    received = Received()
    async with running_worker(export_settings):
        await asyncio.sleep(3)  # the export's reader has made the stream
        consumer = asyncio.create_task(nats_consumer.consume(nats_server.url, "WAGATE_RESTART", "wagate.>", "test",
                                                             received.handle))
        try:
            sent = await publish_through_restart(arq_redis, tenant_id, nats_server, received)
            await received.wait_for(EVENTS, 120, arq_redis)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
    nc = await nats.connect(nats_server.url)
    try:
        stored = (await nc.jetstream().stream_info("WAGATE_RESTART")).state.messages
        await nc.jetstream().delete_stream("WAGATE_RESTART")  # the server outlives the test
    finally:
        await nc.close()
    check(received, sent, tenant_id, stored)  # JetStream dropped the copies sent again: one message per event id


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_rabbitmq_ten_thousand_events_through_a_restart(export_settings: Settings, db: Any, arq_redis: Any,
                                                              rows: Rows, rabbitmq_server: RabbitMQProcess) -> None:
    rabbitmq_server.ensure_running()
    tenant_id = await arrange(db, arq_redis, export_settings, rows, BrokerKind.RABBITMQ, rabbitmq_server.url, "wagate")
    received, ready = Received(), asyncio.Event()
    consumer = asyncio.create_task(rabbitmq_consumer.consume(rabbitmq_server.url, "wagate", "wagate.#", "test",
                                                             received.handle, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)  # the queue is bound before the first event
        async with running_worker(export_settings):
            sent = await publish_through_restart(arq_redis, tenant_id, rabbitmq_server, received)
            await received.wait_for(EVENTS, 180, arq_redis)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
    check(received, sent, tenant_id, EVENTS)


def test_the_readme_shows_the_consumers_these_tests_run() -> None:
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    for example in (nats_consumer, rabbitmq_consumer):
        assert example.__file__ is not None
        assert Path(example.__file__).read_text().strip() in readme, f"README: paste {example.__file__} again"
