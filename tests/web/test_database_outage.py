"""A database out of reach answers 503 with Retry-After in the one error shape, logged once per outage.

On MariaDB the suite's server is stopped for real and started again on its port; on SQLite the database file is
replaced by a directory and the pool emptied, so every new connection fails to open it, as with a lost disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.servers import MariaDBProcess
from tests.web.identities import add_key
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.web.keys import ENGINE

pytestmark = pytest.mark.slow
REQUESTS = 12


def log_events(log_dir: Path, name: str) -> list[dict[str, Any]]:
    path = log_dir / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Outage:
    """Takes the test's database out of reach and brings it back."""

    def __init__(self, client: TestClient, settings: Settings, request: pytest.FixtureRequest) -> None:
        self.client, self.settings = client, settings
        self.mariadb: MariaDBProcess | None = None if settings.database_is_sqlite else request.getfixturevalue(
            "mariadb")
        self.file = Path(make_url(settings.database_url).database or "")
        self.moved = self.file.with_name("moved-away.db")

    async def begin(self) -> None:
        if self.mariadb is not None:
            await asyncio.to_thread(self.mariadb.stop)
            return
        await self.client.app[ENGINE].dispose()  # the pool's open files would still reach the moved database
        self.file.rename(self.moved)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self.file.with_name(self.file.name + suffix).rename(self.moved.with_name(self.moved.name + suffix))
        self.file.mkdir()  # SQLite cannot open a directory: "unable to open database file"

    async def end(self) -> None:
        if self.mariadb is not None:
            await asyncio.to_thread(self.mariadb.start)
            return
        shutil.rmtree(self.file)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                self.moved.with_name(self.moved.name + suffix).rename(self.file.with_name(self.file.name + suffix))


async def test_an_unreachable_database_answers_503_with_retry_after_logged_once(
    client: TestClient, settings: Settings, db: async_sessionmaker[AsyncSession], request: pytest.FixtureRequest,
) -> None:
    _, key = await add_key(db, Role.ADMIN)
    assert (await client.get("/api/sessions", headers={"x-api-key": key})).status == 200
    outage = Outage(client, settings, request)
    await outage.begin()
    try:
        answers = []
        for n in range(REQUESTS):
            if n % 4 == 1:  # the login limit allows five a quarter hour
                response = await client.post("/api/auth/login", json={"username": "admin", "password": "x" * 12})
            else:
                response = await client.get("/api/sessions", headers={"x-api-key": key})
            answers.append((response.status, response.headers.get("Retry-After"), await response.json()))
    finally:
        await outage.end()

    for status, retry_after, body in answers:
        assert status == 503, body
        assert retry_after is not None and int(retry_after) > 0
        assert body["success"] is False and "database" in body["message"].lower()
        assert set(body) == {"success", "message", "details"}
    errors = log_events(settings.log_dir, "error.log")
    assert [line["event"] for line in errors] == ["database unreachable"], errors
    assert "exception" not in errors[0] and "Traceback" not in json.dumps(errors)

    # Once the database answers again the gateway serves, and says so once.
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        response = await client.get("/api/sessions", headers={"x-api-key": key})
        if response.status == 200 or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert response.status == 200, await response.text()
    for _ in range(50):
        back = [e for e in log_events(settings.log_dir, "combined.log") if e["event"] == "database reachable again"]
        if back:
            break
        await asyncio.sleep(0.2)
    assert len(back) == 1 and back[0]["requests_refused"] == REQUESTS, back
    assert [line["event"] for line in log_events(settings.log_dir, "error.log")] == ["database unreachable"]
