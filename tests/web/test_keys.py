"""API keys for admins: created with the plaintext shown once, listed by prefix, revoked at once, audited."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.identities import add_user, bearer, log_text, login
from wagate.db.enums import Role
from wagate.db.models_identity import ApiKey, AuditLog
from wagate.services.identity.credentials import hash_token
from wagate.web.keys import KEY_USAGE

Session = async_sessionmaker[AsyncSession]


async def test_create_use_list_and_revoke_a_key(client: TestClient, db: Session, tmp_path: Path) -> None:
    admin_id = await add_user(db, "root", Role.ADMIN)
    headers = bearer((await login(client, "root"))["access_token"])
    response = await client.post("/api/keys", headers=headers, json={"name": "crm", "role": "operator"})
    assert response.status == 201 and response.headers["Cache-Control"] == "no-store"
    created = (await response.json())["data"]
    key = created["key"]
    assert key.startswith(created["prefix"] + "_") and created["role"] == "operator"
    assert created["user_id"] == admin_id and created["revoked"] is False
    async with db() as session:
        row = await session.get(ApiKey, created["id"])
        assert row is not None and row.key_hash == hash_token(key) and key not in (row.key_hash, row.prefix)
    me = await client.get("/api/auth/me", headers={"x-api-key": key})
    assert me.status == 200 and (await me.json())["data"]["role"] == "operator"
    await client.app[KEY_USAGE].flush()
    listed = (await (await client.get("/api/keys", headers=headers)).json())["data"]
    assert len(listed) == 1 and "key" not in listed[0] and "key_hash" not in listed[0]
    assert listed[0]["prefix"] == created["prefix"] and listed[0]["last_used_at"] is not None
    response = await client.delete(f"/api/keys/{created['id']}", headers=headers)
    assert response.status == 200 and (await response.json())["data"]["revoked"] is True
    response = await client.get("/api/auth/me", headers={"x-api-key": key})
    assert response.status == 401 and (await response.json())["message"] == "API key revoked"
    assert (await client.delete("/api/keys/9999", headers=headers)).status == 404
    async with db() as session:
        actions = list(await session.scalars(select(AuditLog.action).where(AuditLog.target_type == "api_key")))
    assert actions == ["api_key.create", "api_key.revoke"]
    assert key not in log_text(tmp_path)


async def test_a_tenant_key_and_bad_owners(client: TestClient, db: Session) -> None:
    await add_user(db, "root", Role.ADMIN)
    headers = bearer((await login(client, "root"))["access_token"])
    response = await client.post("/api/keys", headers=headers, json={"name": "x", "tenant_id": 12345})
    assert response.status == 400
    response = await client.post("/api/keys", headers=headers, json={"name": "x", "role": "superuser"})
    assert response.status == 400
    response = await client.post("/api/keys", headers=headers,
                                 json={"name": "x", "expires_at": "2020-01-01T00:00:00Z"})
    assert response.status == 201
    expired = (await response.json())["data"]["key"]
    assert (await client.get("/api/auth/me", headers={"x-api-key": expired})).status == 401
