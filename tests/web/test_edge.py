"""The edge of the real app: CORS allow-list and preflights, before authentication and limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures import make_settings
from tests.web.identities import PASSWORD, ClientFactory, add_key, add_user, client_factory, log_text
from wagate.config import ConfigError
from wagate.db.enums import Role

Session = async_sessionmaker[AsyncSession]
APP = "https://app.example.com"
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str) -> ClientFactory:
    return client_factory(aiohttp_client, tmp_path, database_url, redis_url)


def security_events(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log_text(tmp_path).splitlines()
            if line.startswith("{") and '"access denied"' in line]


async def test_a_listed_origin_gets_its_preflight_before_auth_and_limits(make_client: ClientFactory) -> None:
    client = await make_client(CORS_ORIGINS=f"{APP}, https://other.example.com/", RATE_LIMIT_SEND="1/15minute")
    for _ in range(3):  # no credentials, no limit counted: the preflight never reaches the route
        response = await client.options("/api/messages/send", headers=PREFLIGHT)
        assert response.status == 204, await response.text()
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert response.headers["Vary"] == "Origin"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "content-type", "x-api-key", "idempotency-key", "x-request-id"} <= allowed
        assert int(response.headers["Access-Control-Max-Age"]) > 0
        assert "Access-Control-Allow-Credentials" not in response.headers
        assert "X-RateLimit-Limit" not in response.headers
    # The second listed origin was written with a trailing slash: browsers send it without.
    response = await client.options("/api/sessions", headers={**PREFLIGHT, "Origin": "https://other.example.com"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://other.example.com"


async def test_a_listed_origin_reads_answers_and_their_headers(make_client: ClientFactory, db: Session) -> None:
    client = await make_client(CORS_ORIGINS=APP)
    _, key = await add_key(db, Role.USER)
    response = await client.get("/api/auth/me", headers={"Origin": APP, "x-api-key": key})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "Origin" in response.headers["Vary"]
    exposed = response.headers["Access-Control-Expose-Headers"]
    assert "X-RateLimit-Remaining" in exposed and "X-Request-ID" in exposed
    # An error answer is readable too (the page must see why it failed).
    response = await client.get("/api/auth/me", headers={"Origin": APP})
    assert response.status == 401 and response.headers["Access-Control-Allow-Origin"] == APP


async def test_an_unlisted_origin_is_refused_its_preflight_and_gets_no_cors_headers(
        make_client: ClientFactory, db: Session, tmp_path: Path) -> None:
    client = await make_client(CORS_ORIGINS=APP)
    evil = "https://app.example.com.evil.test"
    response = await client.options("/api/messages/send", headers={**PREFLIGHT, "Origin": evil})
    assert response.status == 403
    body = await response.json()
    assert body["success"] is False and body["message"] and body["details"] == {"origin": [evil]}
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    # A plain request still runs (a same-origin page sends Origin on POST), but the browser may not read it.
    _, key = await add_key(db, Role.USER)
    response = await client.get("/api/auth/me", headers={"Origin": evil, "x-api-key": key})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]
    # A method outside the list is refused even for a listed origin.
    response = await client.options("/api/sessions", headers={**PREFLIGHT, "Access-Control-Request-Method": "TRACE"})
    assert response.status == 403 and "Access-Control-Allow-Origin" not in response.headers
    assert any(e["reason"].startswith("cross-origin") and e["path"] == "/api/messages/send"
               for e in security_events(tmp_path))


async def test_without_cors_origins_there_is_no_cross_origin_access(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.options("/api/messages/send", headers=PREFLIGHT)
    assert response.status == 403 and (await response.json())["success"] is False
    response = await client.get("/health", headers={"Origin": APP})
    assert response.status == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert "Vary" not in response.headers or "Origin" not in response.headers["Vary"]


async def test_a_star_lets_every_origin_read_without_credentials(make_client: ClientFactory) -> None:
    client = await make_client(CORS_ORIGINS="*")
    response = await client.options("/api/messages/send", headers={**PREFLIGHT, "Origin": "https://any.test"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    response = await client.get("/health", headers={"Origin": "https://any.test"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/path", "ftp://x.test", "https://"])
def test_a_bad_origin_names_its_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, CORS_ORIGINS=f"https://ok.example.com,{value}")
    assert "CORS_ORIGINS" in caught.value.problems and repr(value) in caught.value.problems["CORS_ORIGINS"]


def forwarded(address: str) -> dict[str, str]:
    """The test client connects from 127.0.0.1, a trusted proxy by default: the address it forwards is the client."""
    return {"X-Forwarded-For": address}


async def test_a_denied_address_is_refused_on_every_route_and_logged(make_client: ClientFactory, db: Session,
                                                                     tmp_path: Path) -> None:
    client = await make_client(IP_DENY="203.0.113.0/24, 2001:db8:bad::/48")
    _, key = await add_key(db, Role.ADMIN)
    for address in ("203.0.113.9", "2001:db8:bad::7", "::ffff:203.0.113.9"):
        for path in ("/health", "/api/auth/me", "/api/messages/send"):
            response = await client.get(path, headers={**forwarded(address), "x-api-key": key})
            assert response.status == 403, (address, path)
            body = await response.json()
            assert body == {"success": False, "message": "Access from this address is not allowed", "details": None}
    for address in ("203.0.114.1", "2001:db8:600d::1"):
        response = await client.get("/api/auth/me", headers={**forwarded(address), "x-api-key": key})
        assert response.status == 200, address
    assert any(e["reason"] == "client address in IP_DENY" and e["ip"] == "203.0.113.9" and e["path"] == "/health"
               for e in security_events(tmp_path))


async def test_an_allow_list_lets_in_only_its_addresses_and_deny_wins(make_client: ClientFactory,
                                                                      tmp_path: Path) -> None:
    client = await make_client(IP_ALLOW="10.0.0.0/8,fd00::/8", IP_DENY="10.6.6.6")
    assert (await client.get("/health", headers=forwarded("10.1.2.3"))).status == 200
    assert (await client.get("/health", headers=forwarded("fd00::42"))).status == 200
    assert (await client.get("/health", headers=forwarded("10.6.6.6"))).status == 403  # in both: deny wins
    response = await client.get("/health", headers=forwarded("198.51.100.1"))
    assert response.status == 403 and (await response.json())["success"] is False
    # The test client itself (127.0.0.1, no forwarded address) is not on the list either.
    assert (await client.get("/health")).status == 403
    reasons = {(e["reason"], e["ip"]) for e in security_events(tmp_path)}
    assert {("client address in IP_DENY", "10.6.6.6"), ("client address not in IP_ALLOW", "198.51.100.1"),
            ("client address not in IP_ALLOW", "127.0.0.1")} <= reasons


async def test_a_forwarded_address_from_an_untrusted_peer_does_not_get_in(make_client: ClientFactory) -> None:
    client = await make_client(IP_ALLOW="10.0.0.0/8", TRUSTED_PROXIES="192.0.2.1")
    assert (await client.get("/health", headers=forwarded("10.1.2.3"))).status == 403
    client = await make_client(IP_DENY="127.0.0.1", TRUSTED_PROXIES="192.0.2.1")
    assert (await client.get("/health", headers=forwarded("10.1.2.3"))).status == 403


@pytest.mark.parametrize("name", ["IP_ALLOW", "IP_DENY"])
@pytest.mark.parametrize("value", ["10.0.0.0/33", "2001:db8::/129", "10.0.0", "example.com"])
def test_a_bad_address_or_cidr_names_its_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings(tmp_path, **{name: f"10.0.0.0/8,{value}"})
    assert list(caught.value.problems) == [name] and repr(value) in caught.value.problems[name]
    settings = make_settings(tmp_path, **{name: "10.0.0.0/8, 2001:db8::/32 ,192.0.2.7"})
    assert getattr(settings, name.lower()) == ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7")


async def _login_answer(client: Any, **headers: str) -> Any:
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD},
                                 headers=headers)
    assert response.status == 200, await response.text()
    return response


def _refresh_cookie(response: Any) -> str:
    [cookie] = [v for v in response.headers.getall("Set-Cookie") if v.startswith("wagate_refresh=")]
    return cookie.lower()


async def test_hsts_and_the_secure_cookie_follow_a_trusted_proxys_forwarded_proto(make_client: ClientFactory,
                                                                                  db: Session) -> None:
    await add_user(db, "alice")
    client = await make_client(RATE_LIMIT_LOGIN="none")  # the test client is 127.0.0.1, trusted by default
    response = await _login_answer(client, **{"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "; secure" in _refresh_cookie(response) and "httponly" in _refresh_cookie(response)
    assert "Strict-Transport-Security" in (await client.get("/health", headers={"X-Forwarded-Proto": "HTTPS"})).headers
    # Plain HTTP, said or unsaid; of a list, the nearest proxy's (last) value counts.
    for headers in ({}, {"X-Forwarded-Proto": "http"}, {"X-Forwarded-Proto": "https, http"}):
        response = await _login_answer(client, **headers)
        assert "Strict-Transport-Security" not in response.headers, headers
        assert "; secure" not in _refresh_cookie(response), headers


async def test_a_forwarded_proto_from_an_untrusted_peer_is_ignored(make_client: ClientFactory, db: Session) -> None:
    await add_user(db, "alice")
    client = await make_client(RATE_LIMIT_LOGIN="none", TRUSTED_PROXIES="192.0.2.1")
    response = await _login_answer(client, **{"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    assert "; secure" not in _refresh_cookie(response)
    response = await client.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
