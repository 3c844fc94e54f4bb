"""The one error shape, request ids, security headers and the client address behind trusted proxies."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.fixtures import make_settings
from wagate.errors import Conflict, NotFound, RateLimited
from wagate.logging import configure_logging
from wagate.web import middlewares

RAISED: dict[str, Exception] = {
    "not-found": NotFound("Session not found"),
    "conflict": Conflict("Session already exists", {"session": "s1"}),
    "limited": RateLimited("Too many login attempts", retry_after=42),
    "crash": RuntimeError("database password is hunter2hunter2 at /srv/secret/path.py"),
    "reset": ConnectionResetError("Connection lost"),  # what aiohttp's body reads raise when the client is gone
}


def app_with_failing_routes(tmp_path: Path) -> web.Application:
    """The production middlewares in front of handlers that fail in each way a real handler can."""
    settings = make_settings(tmp_path, TRUSTED_PROXIES="10.9.0.0/16,127.0.0.1")
    configure_logging(settings, "web")
    app = web.Application(middlewares=[
        middlewares.request_context(settings.trusted_proxies), middlewares.security_headers, middlewares.errors,
    ])

    async def fail(request: web.Request) -> web.Response:
        raise RAISED[request.match_info["kind"]]

    async def echo_json(request: web.Request) -> web.Response:
        return web.json_response({"got": await request.json(), "ip": request[middlewares.CLIENT_IP]})

    app.router.add_get("/fail/{kind}", fail)
    app.router.add_post("/echo", echo_json)
    return app


async def test_domain_errors_map_to_status_and_one_shape(aiohttp_client: object, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(app_with_failing_routes(tmp_path))  # type: ignore[operator]
    response = await client.get("/fail/not-found")
    assert response.status == 404
    assert await response.json() == {"success": False, "message": "Session not found", "details": None}
    response = await client.get("/fail/conflict")
    assert response.status == 409
    body = await response.json()
    assert body == {"success": False, "message": "Session already exists", "details": {"session": ["s1"]}}
    response = await client.get("/fail/limited")
    assert response.status == 429
    assert response.headers["Retry-After"] == "42"


async def test_unexpected_error_is_500_without_internals_and_logged_with_request_id(
    aiohttp_client: object, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(app_with_failing_routes(tmp_path))  # type: ignore[operator]
    response = await client.get("/fail/crash", headers={"X-Request-ID": "req-12345678"})
    assert response.status == 500
    body = await response.json()
    assert body == {"success": False, "message": "Internal server error", "details": {"request_id": ["req-12345678"]}}
    assert "hunter2" not in await response.text()
    errors = [json.loads(line) for line in (tmp_path / "logs" / "error.log").read_text().splitlines()]
    crash = [e for e in errors if e["event"] == "unhandled error"]
    assert crash and crash[0]["request_id"] == "req-12345678"
    assert "RuntimeError" in crash[0]["exception"]


async def test_unknown_route_wrong_method_and_bad_json_keep_the_shape(aiohttp_client: object, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(app_with_failing_routes(tmp_path))  # type: ignore[operator]
    response = await client.get("/no/such/route")
    assert response.status == 404
    assert await response.json() == {"success": False, "message": "Not found", "details": None}
    response = await client.delete("/echo")
    assert response.status == 405
    assert "POST" in response.headers["Allow"]
    assert (await response.json())["success"] is False
    response = await client.post("/echo", data='{"to": "62812", ', headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["message"].startswith("Malformed JSON body")
    # Bytes that are not UTF-8 are the caller's mistake too, not a server error.
    response = await client.post("/echo", data=b'{"to": "\xff\xfe"}', headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert await response.json() == {"success": False, "message": "Request body is not valid UTF-8",
                                     "details": {"position": ["8"]}}


async def test_every_response_carries_a_request_id_and_security_headers(aiohttp_client: object, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(app_with_failing_routes(tmp_path))  # type: ignore[operator]
    response = await client.get("/fail/not-found")
    assert len(response.headers["X-Request-ID"]) == 32
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    # A caller-chosen id is kept only when it is sane (no log injection through it).
    response = await client.get("/fail/not-found", headers={"X-Request-ID": "bad id with spaces &;"})
    assert response.headers["X-Request-ID"] != "bad id with spaces &;"


async def test_forwarded_for_is_believed_only_from_trusted_proxies(aiohttp_client: object, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(app_with_failing_routes(tmp_path))  # type: ignore[operator]
    # The test client connects from 127.0.0.1, a trusted proxy here: the nearest untrusted hop is the client.
    response = await client.post("/echo", json={}, headers={"X-Forwarded-For": "203.0.113.7, 10.9.1.1"})
    assert (await response.json())["ip"] == "203.0.113.7"


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(aiohttp_client: object, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, TRUSTED_PROXIES="10.9.0.0/16")
    app = web.Application(middlewares=[middlewares.request_context(settings.trusted_proxies)])

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"ip": request[middlewares.CLIENT_IP]})

    app.router.add_get("/whoami", whoami)
    client: TestClient = await aiohttp_client(app)  # type: ignore[operator]
    response = await client.get("/whoami", headers={"X-Forwarded-For": "198.51.100.9"})
    assert (await response.json())["ip"] == "127.0.0.1"



def logged_events(tmp_path: Path) -> list[dict[str, object]]:
    text = "\n".join(p.read_text() for p in tmp_path.glob("logs*/*.log"))
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_a_client_gone_mid_request_is_logged_as_gone_not_as_a_server_error(aiohttp_client: object,
                                                                                 tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(app_with_failing_routes(tmp_path))  # type: ignore[operator]
    # Cancelled handler: the connection closes while the body is still being read.
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await writer.wait_closed()
    # A read that fails with the connection lost.
    response = await client.get("/fail/reset")
    assert response.status == 400
    for _ in range(50):
        events = logged_events(tmp_path)
        if any(e["event"] == "request" and e["path"] == "/echo" for e in events):
            break
        await asyncio.sleep(0.05)
    assert [e["status"] for e in events if e["event"] == "request" and e["path"] == "/echo"] == [499]
    assert [(e["event"], e["level"]) for e in events if e["event"] in ("client disconnected", "unhandled error")] == [
        ("client disconnected", "info")]
