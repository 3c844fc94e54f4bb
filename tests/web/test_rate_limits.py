"""Moving-window limits on the shared Valkey: login, per-route for users, per role for keys, the IP ban, outages."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.servers import ValkeyProcess
from tests.web.api_rows import Rows
from tests.web.identities import PASSWORD, ClientFactory, add_key, add_user, bearer, client_factory, log_text, login
from tests.web.tenancy import tenant
from wagate.config import ConfigError
from wagate.db.enums import Role, SessionStatus
from wagate.queue.names import qr_key
from wagate.web.auth import principal, require, require_internal
from wagate.web.keys import REDIS

Session = async_sessionmaker[AsyncSession]
routes = web.RouteTableDef()
LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@routes.get("/internal/ping")
@require_internal()
async def internal_ping(request: web.Request) -> web.Response:
    return web.json_response({"service": principal(request).service})


@routes.get("/test/any")
@require()
async def any_caller(request: web.Request) -> web.Response:
    return web.json_response({"kind": principal(request).kind})


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str) -> ClientFactory:
    return client_factory(aiohttp_client, tmp_path, database_url, redis_url, routes)


async def _login(client: Any, username: str = "alice", password: str = PASSWORD) -> Any:
    return await client.post("/api/auth/login", json={"username": username, "password": password})


async def test_a_login_after_five_failures_in_fifteen_minutes_is_429_with_every_header(make_client: ClientFactory,
                                                                                       db: Session) -> None:
    client = await make_client()
    await add_user(db, "alice")
    for n in range(5):
        response = await _login(client, password=f"wrong {n}")
        assert response.status == 401
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert response.headers["X-RateLimit-Remaining"] == str(4 - n)
    response = await _login(client)  # the right password, too late
    assert response.status == 429
    for name in ("Retry-After", *LIMIT_HEADERS):
        assert name in response.headers
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 800 < int(response.headers["Retry-After"]) <= 900
    assert abs(int(response.headers["X-RateLimit-Reset"]) - (time.time() + 900)) < 30
    assert (await response.json())["success"] is False
    # Per address and username: another login from the same address still has its own five.
    await add_user(db, "bob")
    assert (await _login(client, "bob")).status == 200


async def test_limits_are_shared_by_two_web_processes_on_one_valkey(make_client: ClientFactory, db: Session) -> None:
    first, second = await make_client(logs="logs-a"), await make_client(logs="logs-b")
    await add_user(db, "alice")
    for client in (first, second, first, second, first):
        assert (await _login(client, password="wrong")).status == 401
    assert (await _login(second)).status == 429


async def test_only_failed_logins_count_toward_the_login_limit(make_client: ClientFactory, db: Session) -> None:
    client = await make_client()
    await add_user(db, "alice")
    for password in (PASSWORD, PASSWORD, PASSWORD, "wrong 1", "wrong 2"):
        await _login(client, password=password)
    response = await _login(client)  # an operator who reloaded the page a few times and mistyped twice
    assert response.status == 200, await response.text()
    assert response.headers["X-RateLimit-Remaining"] == "3"  # five failures allowed, two spent
    for n in range(3):
        assert (await _login(client, password=f"wrong {n + 3}")).status == 401
    assert (await _login(client)).status == 429  # five failures: the limit holds, right password or not


async def test_concurrent_guesses_are_counted_before_any_is_checked(make_client: ClientFactory,
                                                                    db: Session) -> None:
    client = await make_client(LOGIN_MAX_FAILURES="100")  # the limiter alone decides here, not the account lock
    await add_user(db, "alice")
    answers = await asyncio.gather(*(_login(client, password=f"guess {n}") for n in range(12)))
    assert sorted(a.status for a in answers) == [401] * 5 + [429] * 7


async def test_api_keys_get_their_role_limit_on_every_route(make_client: ClientFactory, db: Session) -> None:
    client = await make_client(RATE_LIMIT_KEY_USER="3/hour", RATE_LIMIT_KEY_OPERATOR="5/hour")
    _, user_key = await add_key(db, Role.USER)
    _, operator_key = await add_key(db, Role.OPERATOR)
    _, admin_key = await add_key(db, Role.ADMIN)
    paths = ["/test/any", "/api/auth/me", "/test/any"]
    for n, path in enumerate(paths):
        response = await client.get(path, headers={"x-api-key": user_key})
        assert response.status == 200 and response.headers["X-RateLimit-Remaining"] == str(2 - n)
    response = await client.get("/test/any", headers={"x-api-key": user_key})
    assert response.status == 429
    assert response.headers["X-RateLimit-Limit"] == "3" and 3500 < int(response.headers["Retry-After"]) <= 3600
    for _ in range(5):
        assert (await client.get("/test/any", headers=bearer(operator_key))).status == 200
    assert (await client.get("/test/any", headers=bearer(operator_key))).status == 429
    for _ in range(20):  # admin keys: no limit, no headers
        response = await client.get("/test/any", headers={"x-api-key": admin_key})
        assert response.status == 200 and "X-RateLimit-Limit" not in response.headers


async def test_per_route_limits_count_per_dashboard_user_and_per_key(make_client: ClientFactory,
                                                                     db: Session) -> None:
    client = await make_client(RATE_LIMIT_DASHBOARD="3/15minute", RATE_LIMIT_LOGIN="none")
    await add_user(db, "root")
    await add_user(db, "root2")
    token = (await login(client, "root"))["access_token"]
    for _ in range(3):
        assert (await client.get("/api/users", headers=bearer(token))).status == 200
    response = await client.get("/api/keys", headers=bearer(token))  # the same named limit on another route
    assert response.status == 429 and response.headers["X-RateLimit-Limit"] == "3"
    other = (await login(client, "root2"))["access_token"]
    assert (await client.get("/api/users", headers=bearer(other))).status == 200
    # An admin key has no role limit, but the route's limit counts for it, per key.
    _, key = await add_key(db, Role.ADMIN)
    _, other_key = await add_key(db, Role.ADMIN)
    for _ in range(3):
        assert (await client.get("/api/users", headers={"x-api-key": key})).status == 200
    response = await client.get("/api/users", headers={"x-api-key": key})
    assert response.status == 429 and response.headers["X-RateLimit-Limit"] == "3"
    assert (await client.get("/api/users", headers={"x-api-key": other_key})).status == 200


async def test_repeated_failures_ban_the_address_except_on_internal(make_client: ClientFactory, db: Session,
                                                                    tmp_path: Path) -> None:
    client = await make_client(IP_BAN_AFTER="4/10minute", IP_BAN_SECONDS="120", INTERNAL_API_KEYS="svc:internal-key-1")
    await add_user(db, "alice")
    _, key = await add_key(db, Role.ADMIN)
    for bad in ("wag_00000000_" + "x" * 32, "wag_11111111_" + "y" * 32):
        assert (await client.get("/test/any", headers={"x-api-key": bad})).status == 401
    assert (await _login(client, "alice", "wrong password 1")).status == 401
    assert (await client.get("/test/any", headers=bearer("forged.jwt.token"))).status == 401
    for path, headers in (("/test/any", {"x-api-key": key}), ("/api/auth/login", {}), ("/", {})):
        response = await client.get(path, headers=headers)
        assert response.status == 429, path
        assert 100 < int(response.headers["Retry-After"]) <= 120
        assert "X-RateLimit-Reset" in response.headers
    response = await client.get("/internal/ping", headers={"x-internal-api-key": "internal-key-1"})
    assert response.status == 200
    assert (await client.get("/health")).status == 200
    security = [json.loads(line) for line in (tmp_path / "logs" / "security.log").read_text().splitlines()]
    assert any(e["event"] == "ip banned after repeated authentication failures" and e["ip"] == "127.0.0.1"
               for e in security)


async def test_internal_routes_are_never_limited_or_counted(make_client: ClientFactory) -> None:
    client = await make_client(IP_BAN_AFTER="2/10minute", INTERNAL_API_KEYS="svc:internal-key-1")
    for _ in range(5):
        assert (await client.get("/internal/ping", headers={"x-internal-api-key": "nope"})).status == 401
    response = await client.get("/internal/ping", headers={"x-internal-api-key": "internal-key-1"})
    assert response.status == 200 and "X-RateLimit-Limit" not in response.headers
    assert (await client.get("/")).status == 200  # the failed internal calls did not ban the address


async def test_with_valkey_down_limits_fail_open_and_auth_keeps_working(
    make_client: ClientFactory, db: Session, valkey: ValkeyProcess, tmp_path: Path
) -> None:
    client = await make_client(RATE_LIMIT_KEY_USER="1/hour")
    await add_user(db, "alice")
    _, key = await add_key(db, Role.USER)
    assert (await client.get("/test/any", headers={"x-api-key": key})).status == 200
    assert (await client.get("/test/any", headers={"x-api-key": key})).status == 429
    valkey.stop()
    started = time.perf_counter()
    response = await client.get("/test/any", headers={"x-api-key": key})
    assert response.status == 200 and "X-RateLimit-Limit" not in response.headers
    assert (await _login(client)).status == 200
    token = (await login(client, "alice"))["access_token"]
    assert (await client.get("/api/auth/me", headers=bearer(token))).status == 200
    assert time.perf_counter() - started < 5  # one failed connect, then the breaker skips Redis
    assert "limits are not enforced (fail open)" in log_text(tmp_path)


async def test_concurrent_ban_checks_share_a_round_trip_and_each_sees_the_bans_set_before_it_asked(
        tmp_path: Path, redis_url: str) -> None:
    from redis.asyncio import Redis

    from tests.fixtures import make_settings
    from wagate.services.operations.limiter import BAN_KEY, Limiter

    limiter = Limiter.from_settings(make_settings(tmp_path, REDIS_URL=redis_url))
    redis = Redis.from_url(redis_url)
    try:
        await redis.set(BAN_KEY + "10.0.0.1", "1", ex=100)
        commands = 0
        execute = limiter._redis.execute_command
        pipelines = 0
        real_pipeline = limiter._redis.pipeline

        async def counted(*args: Any, **options: Any) -> Any:
            nonlocal commands
            commands += 1
            return await execute(*args, **options)

        def counted_pipeline(*args: Any, **options: Any) -> Any:
            nonlocal pipelines
            pipelines += 1
            return real_pipeline(*args, **options)

        limiter._redis.execute_command = counted  # type: ignore[method-assign]
        limiter._redis.pipeline = counted_pipeline  # type: ignore[method-assign]
        ips = ["10.0.0.1", "10.0.0.2"] * 20 + ["10.0.0.3"]
        answers = await asyncio.gather(*(limiter.banned_for(ip) for ip in ips))
        assert answers == [100 if ip == "10.0.0.1" else 0 for ip in ips]
        assert commands + pipelines <= 2  # the first lookup, then one pipeline for all that came meanwhile
        # A ban set now is seen by the next question: no answer is older than the request asking.
        await redis.set(BAN_KEY + "10.0.0.2", "1", ex=50)
        assert await asyncio.gather(limiter.banned_for("10.0.0.2"), limiter.banned_for("10.0.0.3")) == [50, 0]
        # A caller that goes away leaves the others their answers.
        gone = asyncio.ensure_future(limiter.banned_for("10.0.0.2"))
        staying = asyncio.ensure_future(limiter.banned_for("10.0.0.2"))
        await asyncio.sleep(0)
        gone.cancel()
        assert await staying == 50
    finally:
        await redis.aclose()
        await limiter.close()


def test_a_bad_limit_setting_names_its_variable(tmp_path: Path) -> None:
    from tests.fixtures import make_settings

    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, RATE_LIMIT_LOGIN="five per fortnight")
    assert "RATE_LIMIT_LOGIN" in caught.value.problems
    assert make_settings(tmp_path, RATE_LIMIT_KEY_OPERATOR="none").rate_limit_key_operator == "none"


QR_CODE = "2@abcDEF123ghiJKL456,mnoPQR789stuVWX012,yzABCD345EFG678=,HIJklm901NOP234="
TO = "6281234567890"
# (limit, its setting, the calls that share it: method, path, JSON body). Each call succeeds when under the limit.
ROUTE_CASES = [
    ("send", "RATE_LIMIT_SEND", "3/15minute", 900, [
        ("POST", "/api/messages/send", {"session": "s1", "to": TO, "message": "one"}),
        ("POST", "/api/messages/send-bulk", {"session": "s1", "to": [TO], "message": "two"})]),
    ("broadcast", "RATE_LIMIT_BROADCAST", "3/60minute", 3600, [
        ("POST", "/api/broadcast/preview", {"name": "Promo", "message": "Halo {name}",
                                            "recipients": [{"phone": "08123456789", "name": "Ani"}]})]),
    ("qr", "RATE_LIMIT_QR", "3/15minute", 900, [("GET", "/api/qr/q1", None), ("GET", "/api/qr", {"session": "q1"})]),
]


@pytest.mark.parametrize(("name", "setting", "limit", "window_s", "calls"), ROUTE_CASES,
                         ids=[case[0] for case in ROUTE_CASES])
async def test_send_broadcast_and_qr_limits_answer_429_after_their_configured_count(
        make_client: ClientFactory, db: Session, name: str, setting: str, limit: str, window_s: int,
        calls: list[tuple[str, str, dict[str, Any] | None]]) -> None:
    client = await make_client(**{setting: limit})
    rows = Rows(db)
    await rows.session("s1")
    await rows.session("q1", status=SessionStatus.SCAN_QR_CODE)
    await client.app[REDIS].set(qr_key("q1"), json.dumps({"code": QR_CODE}))
    for username in ("alice", "bob"):
        await add_user(db, username, Role.OPERATOR)
    alice = bearer((await login(client, "alice"))["access_token"])

    def call(n: int, headers: dict[str, str]) -> Any:
        method, path, body = calls[n % len(calls)]  # the routes of one limit share its count
        if method == "GET":
            return client.get(path, params=body or {}, headers=headers)
        return client.post(path, json=body, headers=headers)

    for n in range(3):
        response = await call(n, alice)
        assert response.status in (200, 202), (n, await response.text())
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == str(2 - n)
    refused = await call(3, alice)
    assert refused.status == 429, await refused.text()
    assert refused.headers["X-RateLimit-Limit"] == "3" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert window_s - 60 < int(refused.headers["Retry-After"]) <= window_s
    assert abs(int(refused.headers["X-RateLimit-Reset"]) - (time.time() + window_s)) < 60
    body = await refused.json()
    assert body["success"] is False and body["message"].startswith(f"Too many requests ({name})")
    assert body["details"]["limit"] == ["3"]
    if name == "send":  # the refused send wrote nothing: one message per accepted call (a bulk of one)
        assert len(await rows.messages()) == 3
    # Counted per user: another operator still has the whole limit.
    bob = bearer((await login(client, "bob"))["access_token"])
    assert (await call(0, bob)).status in (200, 202)


def assert_refused(response: Any, limit: int, window_s: int) -> None:
    assert response.status == 429
    assert response.headers["X-RateLimit-Limit"] == str(limit) and response.headers["X-RateLimit-Remaining"] == "0"
    assert window_s - 60 < int(response.headers["Retry-After"]) <= window_s
    assert abs(int(response.headers["X-RateLimit-Reset"]) - (time.time() + window_s)) < 60


async def test_an_api_key_counts_against_the_send_limit_and_its_role_limit(make_client: ClientFactory,
                                                                         db: Session) -> None:
    client = await make_client(RATE_LIMIT_SEND="3/15minute")  # operator keys: 1000/hour
    rows = Rows(db)
    await rows.session("s1")
    _, key = await add_key(db, Role.OPERATOR)
    _, other = await add_key(db, Role.OPERATOR)
    body = {"session": "s1", "to": TO, "message": "hi"}
    for n in range(3):
        response = await client.post("/api/messages/send", json=body, headers={"x-api-key": key})
        assert response.status == 202, await response.text()
        # Both limits applied; the one with fewer requests left is the one shown.
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == str(2 - n)
    refused = await client.post("/api/messages/send", json=body, headers={"x-api-key": key})
    assert_refused(refused, 3, 900)
    assert (await refused.json())["message"].startswith("Too many requests (send)")
    assert len(await rows.messages()) == 3
    assert (await client.post("/api/messages/send", json=body, headers=bearer(other))).status == 202  # per key
    # The role limit still holds when it is the stricter one.
    strict = await make_client(logs="logs-strict", RATE_LIMIT_SEND="3/15minute", RATE_LIMIT_KEY_USER="2/hour")
    _, viewer = await add_key(db, Role.USER)
    for _ in range(2):
        assert (await strict.get("/api/sessions", headers={"x-api-key": viewer})).status == 200
    assert_refused(await strict.get("/api/sessions", headers={"x-api-key": viewer}), 2, 3600)


async def test_a_session_token_counts_against_send_qr_and_its_own_limit(make_client: ClientFactory, db: Session,
                                                                        tmp_path: Path) -> None:
    client = await make_client(RATE_LIMIT_SEND="2/15minute", RATE_LIMIT_QR="1/15minute", RATE_LIMIT_SESSION="6/hour")
    rows = Rows(db)
    await rows.session("s1")  # its /wa token is its id
    await rows.session("s2")
    await rows.session("q1", status=SessionStatus.SCAN_QR_CODE)
    await client.app[REDIS].set(qr_key("q1"), json.dumps({"code": QR_CODE}))
    body = {"phone": TO, "text": "Hi"}
    for n in range(2):
        response = await client.post("/wa/send", json=body, headers=bearer("s1"))
        assert response.status == 202, await response.text()
        assert response.headers["X-RateLimit-Limit"] == "2" and response.headers["X-RateLimit-Remaining"] == str(1 - n)
    refused = await client.post("/wa/send", json=body, headers=bearer("s1"))
    assert_refused(refused, 2, 900)
    assert (await refused.json())["success"] is False
    assert len(await rows.messages()) == 2
    assert (await client.post("/wa/send", json=body, params={"token": "s2"})).status == 202  # per session
    assert (await client.get("/wa/qr", headers=bearer("q1"))).status == 200
    assert_refused(await client.get("/wa/qr", headers=bearer("q1")), 1, 900)
    # Every /wa call of s1 counts against RATE_LIMIT_SESSION: two sends, the refused one, and three more.
    response = await client.get("/wa/status", headers=bearer("s1"))
    assert response.status == 200 and response.headers["X-RateLimit-Limit"] == "6"
    assert response.headers["X-RateLimit-Remaining"] == "2"
    for _ in range(2):
        assert (await client.get("/wa/contacts", headers=bearer("s1"))).status == 200
    refused = await client.get("/wa/status", headers=bearer("s1"))
    assert_refused(refused, 6, 3600)
    assert (await refused.json())["message"].startswith("Session token rate limit reached")
    security = [json.loads(line) for line in (tmp_path / "logs" / "security.log").read_text().splitlines()]
    assert {(e["limit_name"], e["principal_kind"]) for e in security if e["event"] == "rate limit reached"} >= {
        ("send", "session"), ("qr", "session"), ("session_token", "session")}


async def test_a_customer_key_counts_against_the_send_limit_and_a_key_against_the_qr_limit(
        make_client: ClientFactory, db: Session) -> None:
    client = await make_client(RATE_LIMIT_SEND="2/15minute", RATE_LIMIT_QR="1/15minute")
    tenant_id, customer_key = await tenant(db, "usr_1")
    rows = Rows(db)
    await rows.session("c1", tenant_id=tenant_id)
    await rows.session("q1", status=SessionStatus.SCAN_QR_CODE)
    await client.app[REDIS].set(qr_key("q1"), json.dumps({"code": QR_CODE}))
    headers = {"x-api-key": customer_key}
    for _ in range(2):
        response = await client.post("/v1/sessions/c1/messages", json={"to": TO, "message": "Halo"}, headers=headers)
        assert response.status == 202, await response.text()
    assert_refused(await client.post("/v1/sessions/c1/messages", json={"to": TO, "message": "Halo"},
                                     headers=headers), 2, 900)
    _, key = await add_key(db, Role.USER)
    assert (await client.get("/sessions/q1/qr", headers={"x-api-key": key})).status == 200
    assert_refused(await client.get("/sessions/q1/qr", headers={"x-api-key": key}), 1, 900)
