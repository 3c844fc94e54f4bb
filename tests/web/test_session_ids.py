"""One rule for session ids at every door of the API: create bodies, paths, queries and send bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.web.api_rows import Db, Rows
from tests.web.tenancy import reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_whatsapp import WaSession
from wagate.session_ids import RULE

BAD_IDS = ["..", "...", ".", "-rf", "-", ".hidden", "a/b", "a b", "shop\n", "x" * 65, "ünï"]
# Ids in use: the seeds' examples, generated ids, and the punctuation the rule keeps.
GOOD_IDS = ["whatsapp_connectiona", "62812xxxx", "marketing-1", "marketing-1.a_B", "_x", "ses_0a1b2c3d4e5f",
            "a..b", "x" * 64]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url)


def refused(body: dict[str, Any], field: str) -> bool:
    return body["success"] is False and body["details"] == {field: [RULE]}


async def test_bad_ids_are_refused_on_create_with_the_rule(client: TestClient, db: Db) -> None:
    rows = Rows(db)
    admin = await rows.key(Role.ADMIN)
    _, customer_key = await tenant(db, "usr_1", max_sessions=50)
    customer = {"x-api-key": customer_key}
    for bad in BAD_IDS:
        response = await client.post("/api/sessions", headers=admin, json={"id": bad, "name": "x",
                                                                           "auto_connect": False})
        assert response.status == 400 and refused(await response.json(), "session_id"), (bad, await response.text())
        response = await client.post("/v1/sessions", headers=customer, json={"session_id": bad, "session_name": "x",
                                                                             "auto_connect": False})
        assert response.status == 400 and refused(await response.json(), "session_id"), (bad, await response.text())
        assert await rows.count(WaSession) == 0, bad
    for number, good in enumerate(GOOD_IDS):
        route, body = (("/api/sessions", {"id": good, "name": "x", "auto_connect": False}) if number % 2 else
                       ("/v1/sessions", {"session_id": good, "session_name": "x", "auto_connect": False}))
        response = await client.post(route, headers=admin if number % 2 else customer, json=body)
        assert response.status == 201, (good, await response.text())
    assert await rows.count(WaSession) == len(GOOD_IDS)


async def test_bad_ids_in_paths_and_bodies_are_400_before_any_lookup(client: TestClient, db: Db) -> None:
    rows = Rows(db)
    admin = await rows.key(Role.ADMIN)
    tenant_id, customer_key = await tenant(db, "usr_1")
    customer = {"x-api-key": customer_key}
    # A row the old rule let in: it must not be reachable by its unsafe id any more.
    await session(db, "..", tenant_id)
    for raw in ("%2E%2E", "-rf", ".hidden", "a%2Fb"):
        for method, path, headers in (
                ("GET", f"/v1/sessions/{raw}/settings", customer), ("DELETE", f"/v1/sessions/{raw}", customer),
                ("GET", f"/api/sessions/{raw}", admin), ("POST", f"/api/sessions/{raw}/start", admin),
                ("GET", f"/sessions/{raw}/status", admin), ("GET", f"/api/qr/{raw}", admin)):
            response = await client.request(method, URL(path, encoded=True), headers=headers)  # sent as written
            assert response.status == 400, (method, path, await response.text())
            assert refused(await response.json(), "session_id"), (method, path)
    response = await client.get("/api/qr", params={"session": "-rf"}, headers=admin)
    assert response.status == 400 and refused(await response.json(), "session"), await response.text()
    response = await client.post("/api/messages/send", headers=admin,
                                 json={"session": "..", "to": "6281234567890", "message": "hi"})
    assert response.status == 400 and refused(await response.json(), "session"), await response.text()
    assert await rows.get(WaSession, "..") is not None  # untouched: nothing was addressed by it
