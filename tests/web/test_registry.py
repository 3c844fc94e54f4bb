"""The device registry (seed 000): the file after create/rotate/delete, written atomically with mode 600, and
`GET /admin/device-registry` with Bearer, Basic, wrong credentials, and closed when unconfigured."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis

from tests.web.identities import add_key
from tests.web.spec import assert_documented
from tests.web.tenancy import Db, reseller_settings
from wagate.config import Settings
from wagate.db.enums import ActorType, Role
from wagate.services.sessions import lifecycle, registry
from wagate.web.app import create_app
from wagate.web.keys import REDIS

ADMIN = lifecycle.Actor(ActorType.SYSTEM, "tests")
TOKEN = "registry-token-0123456789"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, REGISTRY_TOKEN=TOKEN, REGISTRY_USER="admin",
                             REGISTRY_PASS="pass-0123456789")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_the_file_follows_create_rotate_delete(client: TestClient, db: Db, settings: Settings) -> None:
    redis: ArqRedis = client.app[REDIS]
    one = await lifecycle.create_session(db, redis, settings, tenant_id=None, session_id="dev-1", name="One",
                                        auto_connect=False, actor=ADMIN)
    two = await lifecycle.create_session(db, redis, settings, tenant_id=None, session_id="dev-2", name="Two",
                                        auto_connect=False, actor=ADMIN)
    path = settings.registry_file
    entries = json.loads(path.read_text())
    assert [set(e) for e in entries] == [{"token", "apiKey", "sessionId", "createdAt"}] * 2
    assert [(e["sessionId"], e["token"], e["apiKey"]) for e in entries] == [
        ("dev-1", one.token, one.token), ("dev-2", two.token, two.token)]
    assert entries[0]["createdAt"].endswith("Z") and len(entries[0]["createdAt"]) == 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rotated = await lifecycle.rotate_token(db, "dev-1", actor=ADMIN, settings=settings)
    after = {e["sessionId"]: e for e in json.loads(path.read_text())}
    assert after["dev-1"]["token"] == rotated != one.token and after["dev-1"]["createdAt"] == entries[0]["createdAt"]
    await lifecycle.delete_session(db, redis, settings, "dev-2", actor=ADMIN)
    assert [e["sessionId"] for e in json.loads(path.read_text())] == ["dev-1"]
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []  # no temp file left behind


async def test_concurrent_writers_lose_no_entry(settings: Settings) -> None:
    await asyncio.gather(*(registry.remember(settings, f"s{n}", f"t{n}") for n in range(20)))
    assert sorted(e["sessionId"] for e in await registry.read(settings)) == sorted(f"s{n}" for n in range(20))


async def test_endpoint_auth(client: TestClient, settings: Settings) -> None:
    await registry.remember(settings, "dev-1", "tok-1")
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, basic("admin", "pass-0123456789")):
        response = await client.get("/admin/device-registry", headers=headers)
        assert response.status == 200
        [entry] = answer = await response.json()
        assert entry["sessionId"] == "dev-1" and entry["token"] == entry["apiKey"] == "tok-1"
        await assert_documented(client, "GET", "/admin/device-registry", 200, answer)
    for headers in ({}, {"Authorization": "Bearer wrong"}, basic("admin", "wrong"), basic("root", "pass-0123456789"),
                    {"Authorization": "Basic !!!"}, {"Authorization": f"Token {TOKEN}"}):
        response = await client.get("/admin/device-registry", headers=headers)
        assert response.status == 401, headers
        assert (await response.json())["success"] is False


async def test_closed_when_unconfigured(aiohttp_client: object, tmp_path: Path, database_url: str,
                                        redis_url: str) -> None:
    bare = reseller_settings(tmp_path, database_url, redis_url)
    client = await aiohttp_client(create_app(bare))  # type: ignore[operator]
    for headers in ({}, {"Authorization": "Bearer anything"}):
        response = await client.get("/admin/device-registry", headers=headers)
        assert response.status == 404


async def test_fifty_concurrent_creations_through_the_api_leave_a_whole_file(
        client: TestClient, aiohttp_client: Any, db: Db, settings: Settings) -> None:
    """Two web apps on one registry file take turns through its lock; a reader polling the file meanwhile only
    ever sees a whole JSON list (the rename), and at the end it holds all fifty sessions with their tokens."""
    other: TestClient = await aiohttp_client(create_app(settings))
    _, key = await add_key(db, Role.ADMIN)  # no role limit, and session creation has no route limit
    path = settings.registry_file
    creating = True
    seen: list[int] = []

    async def watch() -> None:
        while creating:
            if path.exists():
                seen.append(len(json.loads(path.read_text())))  # a torn write would not parse
            await asyncio.sleep(0)

    async def create(n: int) -> tuple[str, str]:
        web = client if n % 2 else other
        response = await web.post("/api/sessions", headers={"x-api-key": key},
                                  json={"id": f"conc-{n:02}", "name": f"Concurrent {n}", "auto_connect": False})
        assert response.status == 201, await response.text()
        return f"conc-{n:02}", (await response.json())["data"]["token"]

    watcher = asyncio.create_task(watch())
    try:
        created = dict(await asyncio.gather(*(create(n) for n in range(50))))
    finally:
        creating = False
        await watcher
    entries = json.loads(path.read_text())
    assert len(entries) == 50
    assert {e["sessionId"]: e["token"] for e in entries} == created
    assert all(e["apiKey"] == e["token"] for e in entries)
    assert seen == sorted(seen) and seen  # the list only grew, one whole entry at a time
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    response = await client.get("/admin/device-registry", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200 and len(await response.json()) == 50
