"""Service info, liveness and readiness, against the real database and Valkey; health follows outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import add_session
from tests.servers import MariaDBProcess, ValkeyProcess
from tests.workers import start_in_loop
from wagate import __version__
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.observability import scrape
from wagate.queue.names import BRIDGES_KEY, HEALTH_CHECK_SUFFIX, WORKER_QUEUE, bridge_queue, lease_key
from wagate.web.keys import ENGINE
from workers.bridge import create_bridge
from workers.worker import create_worker


@pytest.fixture
async def consumers(settings: Settings) -> AsyncIterator[None]:
    """A real worker and a real bridge consumer (arq) running in the test's loop."""
    handles = [await start_in_loop(create_worker(settings, handle_signals=False)),
               await start_in_loop(create_bridge(settings, 0, handle_signals=False))]
    yield
    for handle in handles:
        await handle.stop()


async def health(client: TestClient) -> tuple[int, dict]:
    response = await client.get("/api/health")
    return response.status, await response.json()


async def wait_for_health(client: TestClient, status: int, timeout: float = 20.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, body = await health(client)
        if code == status or asyncio.get_running_loop().time() > deadline:
            assert code == status, body
            return body
        await asyncio.sleep(0.2)


async def test_service_info_names_the_service_and_version(client: TestClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert await response.json() == {"success": True, "service": "wa-gate", "version": __version__}


async def test_liveness_answers_get_and_head(client: TestClient) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"
    response = await client.head("/health")
    assert response.status == 200
    assert await response.read() == b""


async def test_readiness_has_the_original_shape_and_is_degraded_with_consumers_but_no_session(
    client: TestClient, consumers: None
) -> None:
    body = await wait_for_health(client, 200)
    for _ in range(50):  # the consumers publish their health-check key on their first poll
        if body["services"]["queue"] == "running":
            break
        await asyncio.sleep(0.1)
        body = (await health(client))[1]
    assert body["status"] == "degraded"  # nothing to send with yet
    assert body["services"] == {"whatsapp": "no_sessions", "database": "connected", "redis": "connected",
                                "queue": "running"}
    assert body["whatsapp"] == {"should_run": 0, "driven": 0, "orphaned": 0, "connected": 0, "bridges": 1}
    assert set(body["metrics"]) == {"uptime", "memory", "cpu"}
    memory = body["metrics"]["memory"]
    assert memory["used"] > 0 and memory["total"] > memory["used"]
    assert body["timestamp"].endswith("Z")


async def test_readiness_is_degraded_but_200_without_consumers(client: TestClient) -> None:
    code, body = await health(client)
    assert code == 200
    assert body["status"] == "degraded"
    assert body["services"]["queue"] == "stopped"
    assert body["services"]["whatsapp"] == "bridge_down"


async def test_readiness_turns_503_naming_redis_while_it_is_down(client: TestClient, valkey: ValkeyProcess) -> None:
    await wait_for_health(client, 200)
    await asyncio.to_thread(valkey.stop)
    body = await wait_for_health(client, 503)
    assert body["down"] == ["redis"]
    assert body["services"]["redis"] == "disconnected"
    assert body["services"]["database"] == "connected"
    assert "redis" in body["message"]
    await asyncio.to_thread(valkey.start)
    body = await wait_for_health(client, 200)
    assert body["services"]["redis"] == "connected"


async def test_readiness_turns_503_naming_the_database_while_it_is_down(
    client: TestClient, settings: Settings, request: pytest.FixtureRequest
) -> None:
    if settings.database_is_sqlite:
        pytest.skip("an embedded SQLite file cannot go down; the MariaDB run of this test covers it")
    mariadb: MariaDBProcess = request.getfixturevalue("mariadb")
    await wait_for_health(client, 200)
    await asyncio.to_thread(mariadb.stop)
    body = await wait_for_health(client, 503)
    assert body["down"] == ["database"]
    assert "database" in body["message"]
    await asyncio.to_thread(mariadb.start)
    body = await wait_for_health(client, 200)
    assert body["services"]["database"] == "connected"


async def test_readiness_counts_only_sessions_a_live_bridge_drives_and_names_the_orphans(
    client: TestClient, db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    redis = Redis.from_url(settings.redis_url or "")
    try:
        for key in (WORKER_QUEUE, bridge_queue(0)):
            await redis.set(key + HEALTH_CHECK_SUFFIX, "up", ex=60)  # as the consumers' polls write it
        for sid in ("h1", "h2"):
            await add_session(db, sid, status=SessionStatus.WORKING)
        owner = "bridge-2.internal:4026531836:4242:0a1b2c3d"
        await redis.set(lease_key("h1"), owner, px=60_000)
        await redis.set(lease_key("h2"), owner, px=60_000)
        seconds, _ = await redis.time()
        await redis.zadd(BRIDGES_KEY, {owner: (seconds + 60) * 1000})
        code, body = await health(client)
        assert (code, body["status"], body["services"]["whatsapp"]) == (200, "healthy", "connected")
        assert body["whatsapp"] == {"should_run": 2, "driven": 2, "orphaned": 0, "connected": 2, "bridges": 1}

        # The bridge stopped renewing (its host died): the status column still says WORKING, health does not.
        await redis.zadd(BRIDGES_KEY, {owner: seconds * 1000 - 1})
        code, body = await health(client)
        assert (code, body["status"], body["services"]["whatsapp"]) == (200, "degraded", "disconnected")
        assert body["whatsapp"] == {"should_run": 2, "driven": 0, "orphaned": 2, "connected": 0, "bridges": 0}
        assert body["sessions"] == {"WORKING": 2}
        engine = client.app[ENGINE]
        exposed = scrape.exposition(await scrape.shared_state(engine, redis, settings.bridge_shards)).decode()
        assert "wagate_sessions_orphaned 2.0" in exposed.splitlines()
    finally:
        await redis.aclose()
