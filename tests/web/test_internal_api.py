"""The internal reseller API over real HTTP: scoped and global keys, upsert with a one-time key, rotation, audit."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.web.spec import documented_call
from tests.web.tenancy import A, B, Db, G, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.models_identity import AuditLog, Tenant

USER_KEYS = {"user_id", "source", "name", "provider", "created_by", "created_at", "updated_at", "subscription",
             "session_count"}
SUBSCRIPTION_KEYS = {"status", "active", "expires_at", "max_sessions", "max_messages", "messages_sent"}
KEY_KEYS = {"prefix", "role", "created_at", "last_used_at"}
BODY = {"user_id": "usr_001", "source": "svc-a", "expires_at": "2030-12-31T23:59:59Z", "max_sessions": 3,
        "max_messages": 10000, "provider": "genfity-wa", "created_by": "order-service"}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url)


call = documented_call  # every answer of these tests is also held to the OpenAPI document


async def test_me_tells_scoped_from_global(client: TestClient) -> None:
    assert await call(client, "GET", "/internal/me", A, 200) == {"auth": {"mode": "scoped", "source_service": "svc-a"}}
    assert await call(client, "GET", "/internal/me", G, 200) == {"auth": {"mode": "global", "source_service": None}}
    await call(client, "GET", "/internal/me", {}, 401)
    await call(client, "GET", "/internal/me", {"x-internal-api-key": "wrong"}, 401)


async def test_create_returns_the_key_once_then_upserts(client: TestClient, db: Db) -> None:
    created = await call(client, "POST", "/internal/users", A, 200, json=BODY)
    assert set(created) == {"created", "user", "api_key", "key"}
    assert created["created"] is True and created["api_key"].startswith("wag_")
    assert set(created["user"]) == USER_KEYS and set(created["user"]["subscription"]) == SUBSCRIPTION_KEYS
    assert set(created["key"]) == KEY_KEYS and created["key"]["role"] == "operator"
    assert created["user"]["subscription"] == {
        "status": "active", "active": True, "expires_at": "2030-12-31T23:59:59+00:00", "max_sessions": 3,
        "max_messages": 10000, "messages_sent": 0}
    again = await call(client, "POST", "/internal/users", A, 200, json={"user_id": "usr_001", "max_sessions": 5})
    assert set(again) == {"created", "user"} and again["created"] is False  # no api_key on an update
    assert again["user"]["subscription"]["max_sessions"] == 5 and again["user"]["provider"] == "genfity-wa"
    # The key works on /v1 and is stored only hashed.
    me = await call(client, "GET", "/v1/me", {"x-api-key": created["api_key"]}, 200)
    assert me["user"]["user_id"] == "usr_001"
    async with db() as s:
        actions = [a.action for a in await s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions[:2] == ["tenant.create", "tenant.update"]


@pytest.mark.parametrize(("body", "field"), [
    ({"source": "svc-a"}, "user_id"),
    ({"user_id": 5}, "user_id"),
    ({"user_id": "u", "max_sessions": "3"}, "max_sessions"),
    ({"user_id": "u", "max_sessions": -1}, "max_sessions"),
    ({"user_id": "u", "expires_at": "next year"}, "expires_at"),
    ({"user_id": "u", "expires_at": 1700000000}, "expires_at"),
    ({"user_id": "u", "surprise": True}, "surprise"),
])
async def test_bad_bodies_are_400_naming_the_field(client: TestClient, body: dict[str, Any], field: str) -> None:
    answer = await call(client, "POST", "/internal/users", A, 400, json=body)
    assert answer["success"] is False and field in answer["details"]


async def test_malformed_and_non_object_bodies_are_400(client: TestClient) -> None:
    response = await client.post("/internal/users", headers={**A, "Content-Type": "application/json"}, data=b"{no")
    assert response.status == 400
    await call(client, "POST", "/internal/users", A, 400, json=["usr_1"])
    await call(client, "POST", "/internal/users", A, 400)  # no body


async def test_scoped_keys_cannot_touch_another_service(client: TestClient) -> None:
    await call(client, "POST", "/internal/users", B, 200, json={**BODY, "source": "svc-b"})
    await call(client, "POST", "/internal/users", A, 403, json={**BODY, "source": "svc-b"})
    # another service's user is "not found" to a scoped key: it cannot learn which ids that service has
    await call(client, "PUT", "/internal/users/usr_001", A, 404, json={"max_sessions": 1})
    await call(client, "GET", "/internal/users/usr_001/apikey", A, 404)
    await call(client, "POST", "/internal/users/usr_001/apikey/rotate", A, 404)
    await call(client, "PUT", "/internal/users/usr_001", B, 403, json={"source": "svc-a"})  # no moving away
    await call(client, "GET", "/internal/users/nobody/apikey", A, 404)
    # A global key needs the source to create, and may use any.
    await call(client, "POST", "/internal/users", G, 400, json={"user_id": "usr_9"})
    made = await call(client, "POST", "/internal/users", G, 200, json={"user_id": "usr_9", "source": "svc-a"})
    assert made["user"]["source"] == "svc-a"


async def test_listing_is_forced_to_the_scope_and_paged(client: TestClient, db: Db) -> None:
    tenant_a, _ = await tenant(db, "a1", "svc-a", provider="genfity-wa")
    await tenant(db, "a2", "svc-a", provider="other")
    await tenant(db, "b1", "svc-b")
    await session(db, "s-a1", tenant_a)
    await session(db, "s-a1b", tenant_a)
    listed = await call(client, "GET", "/internal/users?source=svc-b", A, 200)
    assert set(listed) == {"users", "page", "limit", "total", "source"}
    assert listed["source"] == "svc-a" and listed["total"] == 2
    assert {u["user_id"]: u["session_count"] for u in listed["users"]} == {"a1": 2, "a2": 0}
    assert all(set(u) == USER_KEYS for u in listed["users"])
    every = await call(client, "GET", "/internal/users?limit=2&page=2", G, 200)
    assert every["total"] == 3 and len(every["users"]) == 1 and every["page"] == 2
    by_provider = await call(client, "GET", "/internal/users?provider=genfity-wa", G, 200)
    assert [u["user_id"] for u in by_provider["users"]] == ["a1"]
    for bad in ("limit=101", "limit=0", "page=0", "limit=ten", "limit=5&limit=6"):
        await call(client, "GET", f"/internal/users?{bad}", A, 400)


async def test_update_renews_and_expires_by_date(client: TestClient, db: Db) -> None:
    await tenant(db, "usr_1", "svc-a")
    past = await call(client, "PUT", "/internal/users/usr_1", A, 200, json={"expires_at": "2020-01-01T00:00:00Z"})
    assert past["user"]["subscription"]["status"] == "expired"
    # Naive time is WIB: one hour ahead of Jakarta's clock is still in the future.
    wib = (datetime.now(ZoneInfo("Asia/Jakarta")) + timedelta(hours=1)).replace(tzinfo=None, microsecond=0)
    renewed = await call(client, "PUT", "/internal/users/usr_1", A, 200, json={"expires_at": wib.isoformat()})
    assert renewed["user"]["subscription"]["status"] == "active"
    assert renewed["user"]["subscription"]["expires_at"] == (wib - timedelta(hours=7)).isoformat() + "+00:00"
    date_only = await call(client, "PUT", "/internal/users/usr_1", A, 200, json={"expires_at": "2030-06-30"})
    assert date_only["user"]["subscription"]["expires_at"] == "2030-06-30T17:00:00+00:00"
    await call(client, "PUT", "/internal/users/usr_1", A, 400, json={"max_messages": 1.5})
    await call(client, "PUT", "/internal/users/nobody", A, 404, json={"max_messages": 1})


async def test_a_global_key_names_the_source_of_an_ambiguous_user(client: TestClient, db: Db) -> None:
    await tenant(db, "same", "svc-a")
    await tenant(db, "same", "svc-b")
    await call(client, "PUT", "/internal/users/same", G, 409, json={"max_sessions": 1})
    moved = await call(client, "PUT", "/internal/users/same?source=svc-b", G, 200, json={"max_sessions": 1})
    assert moved["user"]["source"] == "svc-b" and moved["user"]["subscription"]["max_sessions"] == 1


async def test_key_metadata_and_rotation(client: TestClient, db: Db) -> None:
    _, old_key = await tenant(db, "usr_1", "svc-a")
    await call(client, "GET", "/v1/me", {"x-api-key": old_key}, 200)
    info = await call(client, "GET", "/internal/users/usr_1/apikey", A, 200)
    assert set(info) == {"user_id", "source", "key"} and set(info["key"]) == KEY_KEYS
    assert info["key"]["prefix"] == old_key[:12] and old_key not in str(info)
    rotated = await call(client, "POST", "/internal/users/usr_1/apikey/rotate", A, 200)
    assert set(rotated) == {"user_id", "source", "api_key", "key"}
    assert rotated["api_key"] != old_key and rotated["key"]["prefix"] == rotated["api_key"][:12]
    await call(client, "GET", "/v1/me", {"x-api-key": old_key}, 401)
    await call(client, "GET", "/v1/me", {"x-api-key": rotated["api_key"]}, 200)
    async with db() as s:
        audit = await s.scalar(select(AuditLog).where(AuditLog.action == "api_key.rotate"))
        tenant_row = await s.scalar(select(Tenant))
    assert audit is not None and audit.actor_type == "internal" and audit.actor_id == "svc-a"
    assert tenant_row is not None and audit.target_id == str(tenant_row.id)
