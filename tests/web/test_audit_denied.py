"""Every change attempt is audited with its result: a change refused with 403 is an audit row "denied", a change
made is "success", a refused read writes none, and GET /api/audit-logs shows and filters the result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text

from tests.web.identities import add_user, bearer, login
from tests.web.tenancy import A, B, Db, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_identity import AuditLog


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, IP_BAN_AFTER="none", RATE_LIMIT_LOGIN="none")


async def audits(db: Db, request_id: str) -> list[AuditLog]:
    async with db() as s:
        return list(await s.scalars(select(AuditLog).where(AuditLog.request_id == request_id)))


async def test_an_operators_refused_change_is_a_denied_row(client: TestClient, db: Db) -> None:
    operator_id = await add_user(db, "aud-operator", Role.OPERATOR)
    operator = bearer((await login(client, "aud-operator"))["access_token"])
    response = await client.post("/api/users", headers={**operator, "X-Request-ID": "aud-denied-user"},
                                 json={"username": "someone", "password": "a long password 1", "role": "user"})
    assert response.status == 403, await response.text()
    [row] = await audits(db, "aud-denied-user")
    assert row.result == "denied" and row.action == "POST /api/users"
    assert row.actor_type == "user" and row.actor_id == str(operator_id) and row.ip == "127.0.0.1"
    assert row.details == {"status": 403, "reason": "Permission denied: user_management required"}
    assert row.target_id is None

    response = await client.get("/api/keys", headers={**operator, "X-Request-ID": "aud-denied-read"})
    assert response.status == 403
    assert await audits(db, "aud-denied-read") == []


async def test_a_key_deleting_another_tenants_session_is_a_denied_row(client: TestClient, db: Db) -> None:
    mine, my_key = await tenant(db, "usr_mine")
    theirs, _ = await tenant(db, "usr_theirs")
    await session(db, "their-session", theirs)
    response = await client.delete("/v1/sessions/their-session",
                                   headers={"x-api-key": my_key, "X-Request-ID": "aud-denied-session"})
    assert response.status == 404, await response.text()  # as if it did not exist: its id tells nothing
    [row] = await audits(db, "aud-denied-session")
    assert row.result == "denied" and row.action == "DELETE /v1/sessions/{session_id}"
    assert row.actor_type == "api_key" and row.actor_id is not None and row.tenant_id == mine
    assert (row.target_type, row.target_id) == ("session", "their-session")
    assert row.details == {"status": 404, "reason": "session 'their-session' belongs to another tenant"}


async def test_a_scoped_internal_keys_refused_change_is_a_denied_row(client: TestClient, db: Db) -> None:
    await tenant(db, "usr_a", source="svc-a")
    response = await client.put("/internal/users/usr_a", json={"name": "x"},
                                headers={**B, "X-Request-ID": "aud-denied-internal"})
    assert response.status == 404, await response.text()  # another service's user: as if missing
    [row] = await audits(db, "aud-denied-internal")
    assert (row.result, row.actor_type, row.actor_id) == ("denied", "internal", "svc-b")
    assert row.action == "PUT /internal/users/{user_id}" and row.target_id == "usr_a"


async def test_a_change_made_is_a_success_row_and_the_list_filters_on_result(client: TestClient, db: Db) -> None:
    await add_user(db, "aud-admin", Role.ADMIN)
    await add_user(db, "aud-operator", Role.OPERATOR)
    admin = bearer((await login(client, "aud-admin"))["access_token"])
    operator = bearer((await login(client, "aud-operator"))["access_token"])
    made = await client.post("/api/users", headers={**admin, "X-Request-ID": "aud-made-user"},
                             json={"username": "someone", "password": "a long password 1", "role": "user"})
    assert made.status in (200, 201), await made.text()
    [row] = await audits(db, "aud-made-user")
    assert (row.action, row.result) == ("user.create", "success")
    refused = await client.delete("/api/users/1", headers={**operator, "X-Request-ID": "aud-refused-user"})
    assert refused.status == 403

    async def listed(**params: str) -> list[dict[str, object]]:
        response = await client.get("/api/audit-logs", headers=admin, params=params)
        assert response.status == 200, await response.text()
        items: list[dict[str, Any]] = (await response.json())["data"]["items"]
        return items

    everything = await listed()
    assert {e["result"] for e in everything} == {"success", "denied"}
    denied = await listed(result="denied")
    assert [(e["action"], e["request_id"]) for e in denied] == [("DELETE /api/users/{user_id}", "aud-refused-user")]
    assert all(e["result"] == "success" for e in await listed(result="success"))
    assert "aud-made-user" in [e["request_id"] for e in await listed(result="success")]

    bad = await client.get("/api/audit-logs", headers=admin, params={"result": "maybe"})
    assert bad.status == 400
    assert "result" in (await bad.json())["details"]


async def test_a_database_that_cannot_take_the_row_still_answers_403(
        client: TestClient, db: Db, settings: Settings, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("drops the audit table of the test's own database file; the MariaDB one is shared")
    await tenant(db, "usr_a", source="svc-a")
    async with db() as s, s.begin():
        await s.execute(text("DROP TABLE audit_logs"))
    response = await client.put("/internal/users/usr_a", json={"source": "svc-b"},
                                headers={**A, "X-Request-ID": "aud-no-table"})
    assert response.status == 403, await response.text()
    lines = [json.loads(line) for line in (settings.log_dir / "combined.log").read_text().splitlines()
             if "aud-no-table" in line]
    assert any(line["event"] == "denied change not audited" for line in lines), lines
