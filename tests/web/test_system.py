"""Service info, liveness and readiness, against the real database and Valkey; health follows outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from tests.servers import MariaDBProcess, ValkeyProcess
from tests.workers import start_in_loop
from wagate import __version__
from wagate.config import Settings
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


async def test_readiness_has_the_original_shape_and_is_healthy_with_consumers(
    client: TestClient, consumers: None
) -> None:
    body = await wait_for_health(client, 200)
    for _ in range(50):  # the consumers publish their health-check key on their first poll
        if body["services"]["queue"] == "running":
            break
        await asyncio.sleep(0.1)
        body = (await health(client))[1]
    assert body["status"] == "healthy"
    assert body["services"] == {"whatsapp": "no_sessions", "database": "connected", "redis": "connected",
                                "queue": "running"}
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
