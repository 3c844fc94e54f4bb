"""Users CRUD for admins: roles, active flag, password reset, the last active admin, audits."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.identities import PASSWORD, add_user, bearer, login
from wagate.db.enums import Role
from wagate.db.models_identity import AuditLog

Session = async_sessionmaker[AsyncSession]


async def _admin(client: TestClient, db: Session, name: str = "root") -> tuple[int, dict[str, str]]:
    user_id = await add_user(db, name, Role.ADMIN)
    return user_id, bearer((await login(client, name))["access_token"])


async def test_admin_creates_lists_reads_updates_and_deletes_users(client: TestClient, db: Session) -> None:
    admin_id, headers = await _admin(client, db)
    response = await client.post("/api/users", headers=headers,
                                 json={"username": "Olga", "password": "long enough pw", "role": "operator"})
    assert response.status == 201
    created = (await response.json())["data"]
    assert created["username"] == "olga" and created["role"] == "operator" and "password" not in created
    assert (await client.post("/api/users", headers=headers,
                              json={"username": "olga", "password": "long enough pw"})).status == 409
    assert (await client.post("/api/users", headers=headers,
                              json={"username": "pete", "password": "short"})).status == 400
    listed = (await (await client.get("/api/users", headers=headers)).json())["data"]
    assert [u["username"] for u in listed] == ["root", "olga"]
    olga = await login(client, "olga", "long enough pw")
    response = await client.put(f"/api/users/{created['id']}", headers=headers,
                                json={"role": "user", "password": "reset password 1"})
    assert response.status == 200 and (await response.json())["data"]["role"] == "user"
    # A reset password ends the sessions that used the old one.
    assert (await client.post("/api/auth/refresh", json={"refresh_token": olga["refresh_token"]})).status == 401
    await login(client, "olga", "reset password 1")
    assert (await client.get(f"/api/users/{created['id']}", headers=headers)).status == 200
    assert (await client.delete(f"/api/users/{created['id']}", headers=headers)).status == 200
    assert (await client.get(f"/api/users/{created['id']}", headers=headers)).status == 404
    async with db() as session:
        audits = list(await session.execute(
            select(AuditLog.action, AuditLog.actor_type, AuditLog.actor_id, AuditLog.details)
            .where(AuditLog.target_id == str(created["id"])).order_by(AuditLog.id)))
    assert [a.action for a in audits if a.action.startswith("user.")] == ["user.create", "user.update", "user.delete"]
    assert all(a.actor_type == "user" and a.actor_id == str(admin_id) for a in audits if a.action != "auth.login")
    assert PASSWORD not in str([a.details for a in audits]) and "reset password 1" not in str(audits)


async def test_the_last_active_admin_cannot_be_deleted_demoted_or_deactivated(client: TestClient,
                                                                            db: Session) -> None:
    admin_id, headers = await _admin(client, db)
    for method, body in (("delete", None), ("put", {"role": "operator"}), ("put", {"is_active": False})):
        response = await client.request(method, f"/api/users/{admin_id}", headers=headers, json=body)
        assert response.status == 409
        assert "last active admin" in (await response.json())["message"]
    second_id = await add_user(db, "second", Role.ADMIN)
    assert (await client.put(f"/api/users/{second_id}", headers=headers, json={"role": "operator"})).status == 200
    assert (await client.delete(f"/api/users/{admin_id}", headers=headers)).status == 409
    assert (await client.put(f"/api/users/{second_id}", headers=headers, json={"role": "admin"})).status == 200
    assert (await client.delete(f"/api/users/{admin_id}", headers=headers)).status == 200


async def test_only_admins_manage_users(client: TestClient, db: Session) -> None:
    await add_user(db, "op", Role.OPERATOR)
    headers = bearer((await login(client, "op"))["access_token"])
    for method, path in (("get", "/api/users"), ("post", "/api/users"), ("delete", "/api/users/1"),
                         ("get", "/api/keys")):
        response = await client.request(method, path, headers=headers, json={})
        assert response.status == 403
        assert (await response.json())["message"] == "Permission denied: user_management required"
