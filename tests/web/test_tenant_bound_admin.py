"""An admin bound to a tenant stays inside it: keys, users, password resets, revocations and /metrics are held to its
tenant and its role, and every attempt past them is refused (403, or 404 for another tenant's things), logged in
security.log and audited as denied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.web.identities import PASSWORD, add_key, add_tenant, add_user, bearer, login
from tests.web.tenancy import Db
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_identity import AuditLog, User

NEW_PASSWORD = "a brand new password 1"


async def _denied(db: Db, request_id: str) -> AuditLog:
    async with db() as s:
        [row] = list(await s.scalars(select(AuditLog).where(AuditLog.request_id == request_id)))
    assert row.result == "denied", row.details
    return row


def _security_lines(settings: Settings) -> dict[str, dict[str, Any]]:
    """The security log's "access denied" lines by request id."""
    lines = [json.loads(line) for line in (settings.log_dir / "security.log").read_text().splitlines()]
    return {line["request_id"]: line for line in lines if line.get("event") == "access denied"}


async def _refused(client: TestClient, method: str, path: str, headers: dict[str, str], request_id: str,
                   status: int, body: Any = None) -> dict[str, Any]:
    response = await client.request(method, path, headers={**headers, "X-Request-ID": request_id}, json=body)
    assert response.status == status, (method, path, body, await response.text())
    answer: dict[str, Any] = await response.json()
    return answer


async def test_its_keys_stay_in_its_tenant_and_below_its_role(client: TestClient, db: Db, settings: Settings,
                                                              tmp_path: Path) -> None:
    a = await add_tenant(db, "usr_a")
    b = await add_tenant(db, "usr_b")
    _, admin_a = await add_key(db, Role.ADMIN, tenant_id=a)
    b_key_id, b_key = await add_key(db, Role.OPERATOR, tenant_id=b)
    owner_id = await add_user(db, "a-operator", Role.OPERATOR, tenant_id=a)
    headers = {"x-api-key": admin_a}

    # A key made without naming a tenant is the caller's tenant's, never an install-wide one.
    response = await client.post("/api/keys", headers=headers, json={"name": "x", "role": "admin"})
    assert response.status == 201, await response.text()
    made = (await response.json())["data"]
    assert made["tenant_id"] == a
    me = (await (await client.get("/api/auth/me", headers={"x-api-key": made["key"]})).json())["data"]
    assert me["tenant_id"] == a and me["role"] == "admin"

    for request_id, body in (("esc-key-global", {"tenant_id": None}), ("esc-key-other", {"tenant_id": b})):
        await _refused(client, "POST", "/api/keys", headers, request_id, 403, {"name": "x", "role": "admin", **body})
        row = await _denied(db, request_id)
        assert row.action == "POST /api/keys" and row.tenant_id == a and row.details is not None
        assert row.details["status"] == 403 and "tenant" in row.details["reason"]
    # A key given to one of its users is bounded by that user's role.
    answer = await _refused(client, "POST", "/api/keys", headers, "esc-key-owner", 400,
                            {"name": "x", "role": "admin", "user_id": owner_id})
    assert "role" in answer["details"]

    listed = (await (await client.get("/api/keys", headers=headers)).json())["data"]
    assert b_key_id not in [key["id"] for key in listed] and {key["tenant_id"] for key in listed} == {a}
    await _refused(client, "DELETE", f"/api/keys/{b_key_id}", headers, "esc-revoke", 404)
    assert (await _denied(db, "esc-revoke")).details == {
        "status": 404, "reason": f"API key {b_key_id} is outside the caller's tenant"}
    assert (await client.get("/api/auth/me", headers={"x-api-key": b_key})).status == 200  # B's key still works

    answer = await _refused(client, "GET", "/metrics", headers, "esc-metrics", 403)
    assert "tenant" in answer["message"]
    logged = _security_lines(settings)
    for request_id in ("esc-key-global", "esc-key-other", "esc-revoke", "esc-metrics"):
        assert logged[request_id]["principal_kind"] == "api_key", request_id
    assert admin_a not in (settings.log_dir / "security.log").read_text()


async def test_its_users_stay_in_its_tenant_and_it_cannot_unbind_itself(client: TestClient, db: Db,
                                                                        settings: Settings) -> None:
    a = await add_tenant(db, "usr_a")
    b = await add_tenant(db, "usr_b")
    root_id = await add_user(db, "root", Role.ADMIN)
    b_user_id = await add_user(db, "b-user", Role.USER, tenant_id=b)
    self_id = await add_user(db, "a-admin", Role.ADMIN, tenant_id=a)
    headers = bearer((await login(client, "a-admin"))["access_token"])

    new_user = {"username": "a-helper", "password": "long enough pw 1", "role": "admin"}
    response = await client.post("/api/users", headers=headers, json=new_user)
    assert response.status == 201 and (await response.json())["data"]["tenant_id"] == a
    for request_id, body in (("esc-user-global", {"tenant_id": None}), ("esc-user-other", {"tenant_id": b})):
        await _refused(client, "POST", "/api/users", headers, request_id, 403, {**new_user, "username": "xyz", **body})
        assert (await _denied(db, request_id)).action == "POST /api/users"

    listed = (await (await client.get("/api/users", headers=headers)).json())["data"]
    assert sorted(u["username"] for u in listed) == ["a-admin", "a-helper"]
    for user_id in (root_id, b_user_id):
        await _refused(client, "GET", f"/api/users/{user_id}", headers, f"esc-read-{user_id}", 404)
        # a password reset, a demotion, a deletion of someone outside the tenant: "not found", and audited
        changes: list[tuple[str, str, dict[str, str] | None]] = [
            ("reset", "PUT", {"password": NEW_PASSWORD}), ("demote", "PUT", {"role": "user"}),
            ("delete", "DELETE", None)]
        for what, method, change in changes:
            request_id = f"esc-{what}-{user_id}"
            await _refused(client, method, f"/api/users/{user_id}", headers, request_id, 404, change)
            row = await _denied(db, request_id)
            assert (row.target_type, row.target_id) == ("user", str(user_id)) and row.details is not None
            assert row.details["status"] == 404
    await login(client, "root", PASSWORD)  # the install's admin still has its own password

    # Its own binding and role: it cannot leave its tenant, for another or for none.
    for request_id, body in (("esc-self-unbind", {"tenant_id": None}), ("esc-self-move", {"tenant_id": b})):
        await _refused(client, "PUT", f"/api/users/{self_id}", headers, request_id, 403, body)
        assert (await _denied(db, request_id)).target_id == str(self_id)
    async with db() as s:
        users = {u.username: u for u in await s.scalars(select(User))}
    assert users["a-admin"].tenant_id == a and users["b-user"].role == Role.USER and users["root"].tenant_id is None
    logged = _security_lines(settings)
    assert logged["esc-self-unbind"]["principal_kind"] == "user"
    assert logged[f"esc-delete-{b_user_id}"]["reason"] == f"user {b_user_id} is outside the caller's tenant"

    # Up to its own role, inside its tenant, it manages its users as before.
    operator_id = await add_user(db, "a-operator", Role.OPERATOR, tenant_id=a)
    response = await client.put(f"/api/users/{operator_id}", headers=headers, json={"role": "admin"})
    assert response.status == 200 and (await response.json())["data"]["tenant_id"] == a


async def test_an_install_wide_admin_still_manages_every_tenant(client: TestClient, db: Db) -> None:
    b = await add_tenant(db, "usr_b")
    await add_user(db, "root", Role.ADMIN)
    b_user_id = await add_user(db, "b-user", Role.USER, tenant_id=b)
    headers = bearer((await login(client, "root"))["access_token"])
    response = await client.post("/api/keys", headers=headers, json={"name": "b", "role": "operator", "tenant_id": b})
    assert response.status == 201 and (await response.json())["data"]["tenant_id"] == b
    response = await client.put(f"/api/users/{b_user_id}", headers=headers, json={"tenant_id": None})
    assert response.status == 200 and (await response.json())["data"]["tenant_id"] is None
    _, global_key = await add_key(db, Role.ADMIN)
    metrics = await client.get("/metrics", headers={"x-api-key": global_key})
    assert metrics.status == 200
