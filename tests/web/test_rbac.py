"""The permission matrix for dashboard users and API keys alike, and the internal, customer and session credentials."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.identities import (
    ClientFactory,
    add_key,
    add_session,
    add_tenant,
    add_user,
    bearer,
    client_factory,
    login,
)
from wagate.db.enums import Role, TenantStatus
from wagate.db.models_identity import ApiKey
from wagate.services.identity.principal import PERMISSIONS, Permission
from wagate.web.auth import (
    principal,
    require,
    require_customer,
    require_internal,
    require_session_token,
    required_permissions,
)
from wagate.web.keys import KEY_USAGE

Session = async_sessionmaker[AsyncSession]
routes = web.RouteTableDef()


async def _echo(request: web.Request) -> web.Response:
    caller = principal(request)
    return web.json_response({"kind": caller.kind, "tenant_id": caller.tenant_id, "service": caller.service,
                              "session_id": caller.session_id, "role": caller.role})


for _permission in Permission:
    routes.get(f"/test/perm/{_permission.value}")(require(_permission)(_echo))
routes.get("/test/dashboard-only")(require(kinds=("user",))(_echo))
routes.get("/internal/test")(require_internal()(_echo))
routes.get("/v1/test")(require_customer()(_echo))
routes.get("/v1/test-me")(require_customer(allow_expired=True)(_echo))
routes.get("/wa/test")(require_session_token()(_echo))


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str) -> ClientFactory:
    return client_factory(aiohttp_client, tmp_path, database_url, redis_url, routes)


async def test_the_full_matrix_for_jwt_users_and_api_keys(make_client: ClientFactory, db: Session) -> None:
    client = await make_client(RATE_LIMIT_KEY_USER="none", RATE_LIMIT_KEY_OPERATOR="none")
    for role in Role:
        await add_user(db, f"u-{role}", role)
        token = (await login(client, f"u-{role}"))["access_token"]
        _, key = await add_key(db, role)
        for credentials in (bearer(token), {"x-api-key": key}, bearer(key)):
            for permission in Permission:
                response = await client.get(f"/test/perm/{permission.value}", headers=credentials)
                expected = 200 if permission in PERMISSIONS[role] else 403
                assert response.status == expected, (role, permission, credentials)
                if expected == 403:
                    body = await response.json()
                    assert body["message"] == f"Permission denied: {permission.value} required"
                    assert body["details"] == {"required": [permission.value], "role": [role.value]}
                else:
                    assert (await response.json())["role"] == role.value


_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")
PARAM_VALUES = {"action": "pause"}  # every other path parameter gets an id nothing has
# Admin-only areas the audit named: each of their routes must be refused to operators and users.
ADMIN_ONLY = [("GET", "/api/keys"), ("POST", "/api/keys"), ("DELETE", "/api/keys/1"), ("GET", "/api/audit-logs"),
              ("GET", "/api/webhooks"), ("POST", "/api/webhooks"), ("GET", "/api/webhooks/1"),
              ("PUT", "/api/webhooks/1"), ("DELETE", "/api/webhooks/1"), ("POST", "/api/webhooks/1/secret"),
              ("GET", "/api/webhooks/1/deliveries"), ("GET", "/api/webhooks/deliveries/1"),
              ("POST", "/api/webhooks/deliveries/1/redeliver"), ("POST", "/api/webhooks/1/redeliver"),
              ("POST", "/api/webhooks/1/test")]


def guarded_routes(app: web.Application) -> list[tuple[str, str, str, frozenset[Permission]]]:
    """(method, route template, a URL of it, permissions) of every route of the app that `require` guards."""
    found = []
    for route in app.router.routes():
        required = required_permissions(route.handler)
        if not required or route.method == "HEAD" or route.resource is None:
            continue
        template = route.resource.canonical
        url = route.resource.url_for(**{name: PARAM_VALUES.get(name, "999999")
                                        for name in _PARAM.findall(template)}).path
        found.append((route.method, template, url, required))
    return found


async def test_every_guarded_route_of_the_app_follows_the_matrix(aiohttp_client: Any, tmp_path: Path,
                                                                 database_url: str, redis_url: str,
                                                                 db: Session) -> None:
    """Walks the real router: for each role, by JWT and by API key, 403 exactly where the matrix says."""
    make = client_factory(aiohttp_client, tmp_path, database_url, redis_url)  # the app's own routes only
    client = await make(RATE_LIMIT_KEY_USER="none", RATE_LIMIT_KEY_OPERATOR="none", RATE_LIMIT_DASHBOARD="none",
                        RATE_LIMIT_SEND="none", RATE_LIMIT_QR="none", RATE_LIMIT_BROADCAST="none",
                        IP_BAN_AFTER="none")
    table = guarded_routes(client.app)
    assert {(m, t) for m, t, _, _ in table} >= {("GET", "/api/keys"), ("GET", "/api/audit-logs"),
                                                ("POST", "/api/webhooks/{webhook_id}/test")}
    for role in Role:
        await add_user(db, f"table-{role}", role)
        token = (await login(client, f"table-{role}"))["access_token"]
        _, key = await add_key(db, role)
        for how, credentials in (("jwt", bearer(token)), ("api key", {"x-api-key": key})):
            for method, template, url, required in table:
                response = await client.request(method, url, headers=credentials, json={})
                body = await response.json() if response.content_type == "application/json" else None
                missing = sorted(p.value for p in required if p not in PERMISSIONS[role])
                where = (role.value, how, method, template, response.status, body)
                if missing:
                    assert response.status == 403, where
                    assert body == {"success": False, "message": f"Permission denied: {', '.join(missing)} required",
                                    "details": {"required": missing, "role": [role.value]}}, where
                else:
                    assert response.status not in (401, 403), where


async def test_webhooks_keys_and_audit_logs_are_refused_to_operators_and_users(make_client: ClientFactory,
                                                                               db: Session) -> None:
    client = await make_client(RATE_LIMIT_DASHBOARD="none", RATE_LIMIT_KEY_USER="none",
                               RATE_LIMIT_KEY_OPERATOR="none")
    for role in (Role.OPERATOR, Role.USER):
        await add_user(db, f"limited-{role}", role)
        token = (await login(client, f"limited-{role}"))["access_token"]
        _, key = await add_key(db, role)
        for credentials in (bearer(token), {"x-api-key": key}):
            for method, path in ADMIN_ONLY:
                response = await client.request(method, path, headers=credentials, json={})
                assert response.status == 403, (role, method, path)
                assert (await response.json())["message"].startswith("Permission denied: "), (role, method, path)
    await add_user(db, "limited-admin", Role.ADMIN)
    admin = bearer((await login(client, "limited-admin"))["access_token"])
    for method, path in ADMIN_ONLY:
        assert (await client.request(method, path, headers=admin, json={})).status not in (401, 403), (method, path)


async def test_missing_unknown_revoked_and_expired_keys_are_401(make_client: ClientFactory, db: Session) -> None:
    client = await make_client(IP_BAN_AFTER="none")
    assert (await client.get("/test/perm/view_logs")).status == 401
    past = datetime.now(UTC) - timedelta(minutes=1)
    _, revoked = await add_key(db, Role.ADMIN, revoked_at=past)
    _, expired = await add_key(db, Role.ADMIN, expires_at=past)
    for key, message in ((revoked, "API key revoked"), (expired, "API key expired"),
                         ("wag_00000000_" + "x" * 32, "Invalid API key"), (None, "Authentication required")):
        response = await client.get("/test/perm/view_logs", headers={"x-api-key": key} if key else {})
        assert response.status == 401
        assert (await response.json()) == {"success": False, "message": message, "details": None}
    _, key = await add_key(db, Role.ADMIN)
    response = await client.get("/test/dashboard-only", headers={"x-api-key": key})
    assert response.status == 403


async def test_key_use_is_recorded_in_batches_not_per_request(make_client: ClientFactory, db: Session) -> None:
    client = await make_client()
    key_id, key = await add_key(db, Role.ADMIN)
    for _ in range(5):
        assert (await client.get("/test/perm/system", headers={"x-api-key": key})).status == 200
    async with db() as session:
        assert (await session.get(ApiKey, key_id)).last_used_at is None  # type: ignore[union-attr]
    await client.app[KEY_USAGE].flush()  # what the minutely task (and shutdown) does
    async with db() as session:
        assert (await session.get(ApiKey, key_id)).last_used_at is not None  # type: ignore[union-attr]


async def test_internal_keys_scoped_global_invalid_and_unconfigured(make_client: ClientFactory) -> None:
    client = await make_client(INTERNAL_API_KEYS="genfity-app:scoped-key-123456,global-key-1234567")
    response = await client.get("/internal/test", headers={"x-internal-api-key": "scoped-key-123456"})
    assert response.status == 200 and (await response.json())["service"] == "genfity-app"
    response = await client.get("/internal/test", headers=bearer("global-key-1234567"))
    assert response.status == 200 and (await response.json())["service"] is None
    assert (await client.get("/internal/test", headers={"x-internal-api-key": "scoped-key-12345"})).status == 401
    assert (await client.get("/internal/test")).status == 401
    closed = await make_client(logs="logs-closed")
    assert (await closed.get("/internal/test", headers={"x-internal-api-key": "anything"})).status == 401


async def test_session_token_by_query_or_bearer(make_client: ClientFactory, db: Session) -> None:
    client = await make_client()
    tenant_id = await add_tenant(db)
    await add_session(db, "marketing-1", "session-token-abc", tenant_id)
    for params, headers in (({"token": "session-token-abc"}, None), (None, bearer("session-token-abc"))):
        response = await client.get("/wa/test", params=params, headers=headers)
        assert response.status == 200
        assert await response.json() == {"kind": "session", "tenant_id": tenant_id, "service": None,
                                         "session_id": "marketing-1", "role": None}
    assert (await client.get("/wa/test", params={"token": "wrong"})).status == 401
    assert (await client.get("/wa/test")).status == 401


async def test_customer_keys_and_expired_subscriptions(make_client: ClientFactory, db: Session) -> None:
    client = await make_client()
    live = await add_tenant(db, "usr_live", expires_at=datetime.now(UTC) + timedelta(days=30))
    lapsed = await add_tenant(db, "usr_lapsed", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    marked = await add_tenant(db, "usr_marked", status=TenantStatus.EXPIRED)
    keys = {tenant: (await add_key(db, Role.USER, tenant_id=tenant))[1] for tenant in (live, lapsed, marked)}
    response = await client.get("/v1/test", headers={"x-api-key": keys[live]})
    assert response.status == 200
    assert (await response.json())["tenant_id"] == live and (await response.json())["kind"] == "api_key"
    for tenant in (lapsed, marked):
        response = await client.get("/v1/test", headers={"x-api-key": keys[tenant]})
        assert response.status == 403 and (await response.json())["message"].startswith("Subscription expired")
        assert (await client.get("/v1/test-me", headers={"x-api-key": keys[tenant]})).status == 200
    assert (await client.get("/v1/test", headers=bearer(keys[live]))).status == 401  # x-api-key only (seed 002)
    assert (await client.get("/v1/test")).status == 401
    _, install_key = await add_key(db, Role.ADMIN)
    assert (await client.get("/v1/test", headers={"x-api-key": install_key})).status == 403
    # A tenant-bound key on the install-wide API carries its tenant.
    response = await client.get("/test/perm/view_logs", headers={"x-api-key": keys[live]})
    assert (await response.json())["tenant_id"] == live


async def test_the_default_app_refuses_a_call_without_credentials(client: TestClient) -> None:
    assert (await client.get("/api/auth/me")).status == 401


async def test_two_different_credentials_are_refused_whichever_would_pass(make_client: ClientFactory,
                                                                         db: Session) -> None:
    """A valid key beside a wrong, or merely different, Authorization is ambiguous: 401, never served."""
    client = await make_client(INTERNAL_API_KEYS="internal-key-0123456789")
    _, key = await add_key(db, Role.ADMIN)
    tenant_id = await add_tenant(db)
    _, tenant_key = await add_key(db, Role.OPERATOR, tenant_id=tenant_id)
    await add_session(db, "s-cred", "session-token-0123456789", tenant_id)
    await add_user(db, "cred-user", Role.USER)
    token = (await login(client, "cred-user"))["access_token"]
    conflicts = [
        ("/test/perm/system", {"x-api-key": key, "Authorization": "Bearer not-a-credential"}),
        ("/test/perm/system", {"x-api-key": key, "Authorization": f"Bearer {token}"}),
        ("/test/perm/view_logs", {"x-api-key": key, "Authorization": "Basic dXNlcjpwYXNz"}),
        ("/v1/test", {"x-api-key": tenant_key, "Authorization": f"Bearer {key}"}),
        ("/internal/test", {"x-internal-api-key": "internal-key-0123456789", "Authorization": "Bearer other"}),
        ("/wa/test?token=session-token-0123456789", {"Authorization": "Bearer other-token"}),
    ]
    for path, headers in conflicts:
        response = await client.get(path, headers=headers)
        body = await response.json()
        assert response.status == 401 and body["message"].startswith("Conflicting credentials"), (path, body)
    same = await client.get("/test/perm/system", headers={"x-api-key": key, "Authorization": f"Bearer {key}"})
    assert same.status == 200  # one credential, given twice: not ambiguous
