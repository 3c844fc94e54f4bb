"""An API key is bounded by its owner as the owner is now: deactivating, demoting or deleting the owner reaches its
keys at once, on this web process and on another one (a real `wagate web` sharing the database and Valkey),
through the key cache's Redis channel rather than its expiry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.bridge.conftest import until
from tests.observability.processes import Child
from tests.servers import free_port
from tests.web.identities import add_user, bearer, login
from tests.web.tenancy import Db
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.services.identity import key_cache
from wagate.web.keys import REDIS


async def _listening(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{url}/health") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _subscribers(client: TestClient, wanted: int) -> bool:
    """Whether `wanted` processes listen on the key cache's channel (this test's app and the other one): while
    one does, it caches keys, so the test below sees a refusal only if the change reached it."""
    [(_, count)] = await client.app[REDIS].pubsub_numsub(key_cache.CHANNEL)
    return int(count) >= wanted


@pytest.fixture
async def other_web(client: TestClient, settings: Settings, tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    """A second web process on the test's database and Valkey, and a client of it."""
    port = free_port()
    child = Child.wagate(settings, tmp_path / "other-web.out", "web", "--port", str(port)).start()
    url = f"http://127.0.0.1:{port}"
    try:
        await until(lambda: _listening(url), timeout=30, what="the second web process to answer")
        await until(lambda: _subscribers(client, 2), timeout=10, what="both web processes to hear key changes")
        async with aiohttp.ClientSession(base_url=url) as http:
            yield http
    finally:
        child.stop()


async def _status(http: aiohttp.ClientSession | TestClient, path: str, key: str) -> tuple[int, Any]:
    async with http.get(path, headers={"x-api-key": key}) as response:
        return response.status, await response.json()


async def _warm(http: aiohttp.ClientSession, key: str) -> None:
    """Use the key on the other process, so its cache holds it (it caches: it listens, see the fixture)."""
    for _ in range(2):
        status, _ = await _status(http, "/api/auth/me", key)
        assert status == 200


async def test_demoting_deactivating_and_deleting_the_owner_reach_its_key_on_every_web_process(
        client: TestClient, db: Db, other_web: aiohttp.ClientSession) -> None:
    await add_user(db, "root", Role.ADMIN)
    owner_id = await add_user(db, "owner", Role.ADMIN)
    root = bearer((await login(client, "root"))["access_token"])
    owner = bearer((await login(client, "owner"))["access_token"])
    response = await client.post("/api/keys", headers=owner, json={"name": "bot", "role": "admin"})
    assert response.status == 201
    key = (await response.json())["data"]["key"]

    async def change(body: dict[str, Any] | None, method: str = "PUT", warm: bool = True) -> None:
        if warm:
            await _warm(other_web, key)  # cached there: only the announcement can make it let go
        response = await client.request(method, f"/api/users/{owner_id}", headers=root, json=body)
        assert response.status == 200, await response.text()

    await change({"role": "operator"})
    for http in (other_web, client):
        status, body = await _status(http, "/api/users", key)
        assert status == 403 and body["details"] == {"required": ["user_management"], "role": ["operator"]}, body
        status, body = await _status(http, "/api/auth/me", key)
        assert status == 200 and body["data"]["role"] == "operator"

    await change({"role": "admin"})
    await change({"is_active": False})
    for http in (other_web, client):
        status, body = await _status(http, "/api/auth/me", key)
        assert status == 401 and body["message"] == "API key disabled: its owner's account is disabled", body

    await change({"is_active": True}, warm=False)
    await change(None, "DELETE")
    for http in (other_web, client):
        status, body = await _status(http, "/api/auth/me", key)
        assert status == 401 and body["message"] == "Invalid API key", body


async def test_a_revoked_key_is_refused_at_once_by_another_web_process(
        client: TestClient, db: Db, other_web: aiohttp.ClientSession) -> None:
    await add_user(db, "root", Role.ADMIN)
    root = bearer((await login(client, "root"))["access_token"])
    made = (await (await client.post("/api/keys", headers=root, json={"name": "bot", "role": "admin"})).json())["data"]
    await _warm(other_web, made["key"])
    assert (await client.delete(f"/api/keys/{made['id']}", headers=root)).status == 200
    status, body = await _status(other_web, "/api/auth/me", made["key"])
    assert status == 401 and body["message"] == "API key revoked"


async def test_a_process_that_cannot_hear_changes_caches_nothing() -> None:
    key_cache.put("some-hash", "row", key_cache.generation())
    assert key_cache.get("some-hash") is None  # no listener in this test: nothing is kept
