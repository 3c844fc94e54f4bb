"""Dashboard login, JWT checks, refresh rotation and reuse, logout, password change, and what the logs keep."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.identities import PASSWORD, ClientFactory, add_key, add_user, bearer, client_factory, log_text, login
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.db.models_identity import AuditLog, RefreshToken, User
from wagate.services.identity.credentials import hash_password

Session = async_sessionmaker[AsyncSession]


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str) -> ClientFactory:
    return client_factory(aiohttp_client, tmp_path, database_url, redis_url)


async def test_login_answers_tokens_user_and_a_strict_refresh_cookie(client: TestClient, db: Session,
                                                                     settings: Settings) -> None:
    user_id = await add_user(db, "alice", Role.OPERATOR)
    response = await client.post("/api/auth/login", json={"username": "Alice", "password": PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["token_type"] == "Bearer" and data["expires_in"] == 900
    assert data["user"]["username"] == "alice" and data["user"]["role"] == "operator"
    assert "password_hash" not in data["user"]
    claims = jwt.decode(data["access_token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == str(user_id) and claims["role"] == "operator"
    assert {"jti", "iat", "exp"} <= claims.keys() and claims["exp"] - claims["iat"] == 900
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"wagate_refresh={data['refresh_token']};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/api/auth" in cookie
    assert "Secure" not in cookie  # plain http in the test; https requests get it
    assert response.headers["Cache-Control"] == "no-store"
    me = await client.get("/api/auth/me", headers=bearer(data["access_token"]))
    assert me.status == 200
    assert (await me.json())["data"]["user"]["id"] == user_id
    async with db() as session:
        assert (await session.get(User, user_id)).last_login_at is not None  # type: ignore[union-attr]
        assert await session.scalar(select(AuditLog.action).where(AuditLog.actor_id == str(user_id))) == "auth.login"


async def test_wrong_password_and_unknown_user_get_the_same_answer_after_the_same_work(
    client: TestClient, db: Session
) -> None:
    async with db() as session:  # a real cost-12 hash, as the service makes them
        session.add(User(username="bob", password_hash=hash_password(PASSWORD), role=Role.USER))
        await session.commit()
    timings: dict[str, float] = {}
    answers = {}
    for name in ("bob", "nobody"):
        tries = []
        for _ in range(3):  # the fastest of three: the machine is shared and noisy
            started = time.perf_counter()
            response = await client.post("/api/auth/login", json={"username": name, "password": "wrong password!"})
            tries.append(time.perf_counter() - started)
        timings[name] = min(tries)
        answers[name] = (response.status, await response.json())
    assert answers["bob"] == answers["nobody"]
    assert answers["bob"][0] == 401 and answers["bob"][1]["message"] == "Invalid username or password"
    # Both spend one cost-12 bcrypt check (~0.1-0.3 s); an early "no such user" exit would take ~1 ms.
    assert timings["nobody"] > 0.3 * timings["bob"] and timings["bob"] > 0.3 * timings["nobody"]


async def test_five_wrong_passwords_lock_the_account_with_a_clear_answer(
    make_client: ClientFactory, db: Session, tmp_path: Path
) -> None:
    client = await make_client(RATE_LIMIT_LOGIN="none", IP_BAN_AFTER="none")
    user_id = await add_user(db, "carol")
    for _ in range(5):
        response = await client.post("/api/auth/login", json={"username": "carol", "password": "guess-guess-1"})
        assert response.status == 401
    response = await client.post("/api/auth/login", json={"username": "carol", "password": PASSWORD})
    assert response.status == 429
    assert "locked" in (await response.json())["message"]
    assert 800 < int(response.headers["Retry-After"]) <= 900
    async with db() as session:
        user = await session.get(User, user_id)
        assert user is not None and user.locked_until is not None and user.failed_logins == 0
        user.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the lock has run out
        await session.commit()
    await login(client, "carol")
    security = [json.loads(line) for line in (tmp_path / "logs" / "security.log").read_text().splitlines()]
    failures = [e for e in security if e["event"] == "login failed"]
    assert len(failures) == 5 and all(e["user_id"] == user_id and e["ip"] == "127.0.0.1" for e in failures)
    assert any(e["event"] == "account locked" for e in security)
    assert "guess-guess-1" not in log_text(tmp_path)


def _token(settings: Settings, secret: str | None = None, algorithm: str = "HS256", **claims: Any) -> str:
    now = datetime.now(UTC)
    base: dict[str, Any] = {"sub": "1", "role": "admin", "jti": "j1", "iat": now, "exp": now + timedelta(minutes=5)}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, secret or settings.jwt_secret,
                      algorithm=algorithm)


async def test_expired_tampered_unsigned_and_foreign_tokens_are_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    user_id = await add_user(db, "dave")
    good = _token(settings, sub=str(user_id))
    assert (await client.get("/api/auth/me", headers=bearer(good))).status == 200
    past = datetime.now(UTC) - timedelta(minutes=20)
    cases = {
        "Token expired": _token(settings, sub=str(user_id), iat=past, exp=past + timedelta(minutes=15)),
        "Invalid token": _token(settings, secret="another-secret-of-at-least-32-chars!!", sub=str(user_id)),
    }
    header, payload, signature = good.split(".")
    forged = jwt.utils.base64url_encode(json.dumps(
        {**jwt.decode(good, options={"verify_signature": False}), "role": "admin", "sub": "999"}).encode()).decode()
    unsigned_header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    refused = [
        *cases.items(),
        ("Invalid token", f"{header}.{forged}.{signature}"),  # tampered payload, old signature
        ("Invalid token", f"{unsigned_header}.{payload}."),  # alg=none
        ("Invalid token", _token(settings, sub=str(user_id), jti=None)),  # a required claim missing
        ("Invalid token", "not-a-jwt"),
    ]
    for message, token in refused:
        response = await client.get("/api/auth/me", headers=bearer(token))
        assert response.status == 401, message
        assert (await response.json()) == {"success": False, "message": message, "details": None}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Inside the few seconds of leeway an expiry is still accepted (clock skew between processes).
    just = datetime.now(UTC) - timedelta(seconds=2)
    skewed = _token(settings, sub=str(user_id), iat=just - timedelta(minutes=15), exp=just)
    assert (await client.get("/api/auth/me", headers=bearer(skewed))).status == 200


async def test_a_deactivated_user_is_refused_even_with_a_live_token(client: TestClient, db: Session) -> None:
    user_id = await add_user(db, "erin", Role.OPERATOR)
    data = await login(client, "erin")
    async with db() as session:
        (await session.get(User, user_id)).is_active = False  # type: ignore[union-attr]
        await session.commit()
    response = await client.get("/api/auth/me", headers=bearer(data["access_token"]))
    assert response.status == 401
    assert (await response.json())["message"] == "Account disabled"


async def test_a_cookie_only_login_keeps_the_refresh_token_out_of_the_page(client: TestClient, db: Session) -> None:
    await add_user(db, "carol")
    response = await client.post("/api/auth/login",
                                 json={"username": "carol", "password": PASSWORD, "cookie_only": True})
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert "refresh_token" not in data and data["access_token"]
    cookie = response.cookies["wagate_refresh"]
    assert cookie["httponly"] and cookie.value
    response = await client.post("/api/auth/refresh")  # the cookie the login set
    assert response.status == 200, await response.text()
    assert "refresh_token" not in (await response.json())["data"]
    assert response.cookies["wagate_refresh"].value != cookie.value
    bad = await client.post("/api/auth/login", json={"username": "carol", "password": PASSWORD, "cookie_only": "yes"})
    assert bad.status == 400 and "cookie_only" in (await bad.json())["details"]


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(client: TestClient, db: Session) -> None:
    await add_user(db, "frank")
    first = await login(client, "frank")
    response = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status == 200
    second = (await response.json())["data"]
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    # The browser way: the cookie set by the last answer, no body.
    client.session.cookie_jar.update_cookies({"wagate_refresh": second["refresh_token"]})
    response = await client.post("/api/auth/refresh")
    assert response.status == 200, await response.text()
    third = (await response.json())["data"]
    assert "refresh_token" not in third  # a refresh by cookie answers the new token only in the cookie
    third_token = response.cookies["wagate_refresh"].value
    # The first token again: someone holds a copy, so the family dies, including the newest token.
    client.session.cookie_jar.clear()
    response = await client.post("/api/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status == 401
    assert "reuse" in (await response.json())["message"]
    response = await client.post("/api/auth/refresh", json={"refresh_token": third_token})
    assert response.status == 401
    async with db() as session:
        rows = list(await session.scalars(select(RefreshToken)))
    assert len(rows) == 3 and len({r.family_id for r in rows}) == 1 and all(r.revoked_at for r in rows)
    assert (await client.get("/api/auth/me", headers=bearer(third["access_token"]))).status == 401
    assert (await client.post("/api/auth/refresh", json={"refresh_token": "made-up"})).status == 401
    assert (await client.post("/api/auth/refresh", json={})).status == 401


async def test_logout_revokes_the_family_and_clears_the_cookie(client: TestClient, db: Session) -> None:
    await add_user(db, "gina")
    data = await login(client, "gina")
    other = await login(client, "gina")  # another device: another family, untouched
    response = await client.post("/api/auth/logout", json={"refresh_token": data["refresh_token"]})
    assert response.status == 200
    assert (await response.json())["data"]["refresh_tokens_revoked"] == 1
    assert 'wagate_refresh=""' in response.headers["Set-Cookie"]
    assert (await client.post("/api/auth/refresh", json={"refresh_token": data["refresh_token"]})).status == 401
    assert (await client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]})).status == 200
    # With only the access token (e.g. the cookie is gone), its family is the one revoked.
    third = await login(client, "gina")
    client.session.cookie_jar.clear()
    response = await client.post("/api/auth/logout", headers=bearer(third["access_token"]))
    assert (await response.json())["data"]["refresh_tokens_revoked"] == 1
    assert (await client.post("/api/auth/refresh", json={"refresh_token": third["refresh_token"]})).status == 401
    # The access tokens of a revoked family stop at once; the other device's keeps working.
    for ended in (data, third):
        response = await client.get("/api/auth/me", headers=bearer(ended["access_token"]))
        assert response.status == 401 and "log in again" in (await response.json())["message"]
    assert (await client.get("/api/auth/me", headers=bearer(other["access_token"]))).status == 200


async def test_change_password_checks_the_old_one_and_revokes_other_families(client: TestClient, db: Session) -> None:
    await add_user(db, "hank", Role.USER)
    here = await login(client, "hank")
    elsewhere = await login(client, "hank")
    headers = bearer(here["access_token"])
    response = await client.post("/api/auth/change-password", headers=headers,
                                 json={"old_password": "not it at all", "new_password": "a new password 1"})
    assert response.status == 401
    response = await client.post("/api/auth/change-password", headers=headers,
                                 json={"old_password": PASSWORD, "new_password": "short"})
    assert response.status == 400
    response = await client.post("/api/auth/change-password", headers=headers,
                                 json={"old_password": PASSWORD, "new_password": "a new password 1"})
    assert response.status == 200
    assert (await response.json())["data"]["refresh_tokens_revoked"] == 1
    assert (await client.post("/api/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]})).status == 401
    assert (await client.post("/api/auth/refresh", json={"refresh_token": here["refresh_token"]})).status == 200
    bad = await client.post("/api/auth/login", json={"username": "hank", "password": PASSWORD})
    assert bad.status == 401
    await login(client, "hank", "a new password 1")
    _, key = await add_key(db, Role.ADMIN)
    response = await client.post("/api/auth/change-password", headers={"x-api-key": key},
                                 json={"old_password": PASSWORD, "new_password": "a new password 2"})
    assert response.status == 403  # an API key has no password to change


async def test_no_password_token_or_key_reaches_any_log_file(client: TestClient, db: Session, tmp_path: Path) -> None:
    await add_user(db, "ivan")
    _, key = await add_key(db, Role.OPERATOR)
    data = await login(client, "ivan")
    await client.post("/api/auth/login", json={"username": "ivan", "password": "hunter2-hunter2"})
    await client.post("/api/auth/refresh", json={"refresh_token": data["refresh_token"]})
    await client.post("/api/auth/refresh", json={"refresh_token": data["refresh_token"]})  # reuse, logged
    await client.get("/api/auth/me", headers={"x-api-key": key})
    await client.get("/api/auth/me", headers={"x-api-key": key + "x"})
    await client.get("/api/auth/me", headers=bearer(data["access_token"] + "x"))
    text = log_text(tmp_path)
    assert "login failed" in text and "refresh token reuse" in text and "authentication failed" in text
    for secret in (PASSWORD, "hunter2-hunter2", data["refresh_token"], data["access_token"], key,
                   key.split("_", 2)[2]):  # the random part after `wag_<visible>_`
        assert secret not in text
