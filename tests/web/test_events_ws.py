"""`GET /api/events` over real HTTP and a real Valkey: authentication, tenant scoping, renewal, expiry, shutdown."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from tests.web.identities import add_tenant, add_user, login
from wagate.config import Settings
from wagate.db.enums import Role
from wagate.logging import configure_logging
from wagate.services import events
from wagate.web.app import create_app
from wagate.web.keys import EVENT_HUB
from wagate.web.routes import events_ws

Db = Any
WS = "/api/events"


async def connect(client: TestClient, token: str | None = None, **kwargs: Any) -> ClientWebSocketResponse:
    ws = await client.ws_connect(WS, protocols=(events_ws.PROTOCOL,), **kwargs)
    if token is not None:
        await ws.send_json({"type": "auth", "token": token})
    return ws


async def frame(ws: ClientWebSocketResponse, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The next JSON frame (of `kind`, skipping heartbeats and others)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await ws.receive(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
        assert message.type == WSMsgType.TEXT, (message.type, message.data, message.extra)
        data: dict[str, Any] = json.loads(message.data)
        if kind is None or data["type"] == kind:
            return data


async def closed(ws: ClientWebSocketResponse, timeout: float = 5.0) -> int | None:
    """Read until the server closes; the close code."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await ws.receive(timeout=max(0.01, deadline - asyncio.get_running_loop().time()))
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
            return ws.close_code


async def publish(settings: Settings, tenant_id: int | None, name: str, data: dict[str, Any],
                  session: str = "s1") -> None:
    redis = Redis.from_url(settings.redis_url or "")
    try:
        await events.publish(redis, tenant_id, events.envelope(name, session, data))
    finally:
        await redis.aclose()


async def numsub(settings: Settings, channel: str) -> int:
    redis = Redis.from_url(settings.redis_url or "")
    try:
        [(_, count)] = await redis.pubsub_numsub(channel)
        patterns = await redis.pubsub_numpat()
        return int(count) + (int(patterns) if channel.endswith("*") else 0)
    finally:
        await redis.aclose()


@pytest.fixture
async def admin_token(client: TestClient, db: Db) -> str:
    await add_user(db, "root", Role.ADMIN)
    return str((await login(client, "root"))["access_token"])


async def test_first_frame_authenticates_and_an_admin_sees_global_and_tenant_events(
    client: TestClient, db: Db, settings: Settings, admin_token: str
) -> None:
    ws = await connect(client, admin_token)
    assert ws.protocol == events_ws.PROTOCOL
    ready = await frame(ws, "ready")
    assert ready["user"] == {"name": "root", "role": "admin", "tenant_id": None}
    assert ready["expires_at"] > time.time() and ready["heartbeat_s"] == events_ws.HEARTBEAT_S
    await publish(settings, None, "session.status", {"status": "WORKING"})
    await publish(settings, 42, "message.sent", {"id": 7, "status": "sent"}, session="t42")
    first, second = await frame(ws, "event"), await frame(ws, "event")
    assert (first["event"]["event"], first["event"]["data"]["status"]) == ("session.status", "WORKING")
    assert (second["event"]["event"], second["event"]["session"]) == ("message.sent", "t42")
    assert first["event"]["id"].startswith("evt_")
    await ws.send_json({"type": "ping"})
    assert (await frame(ws, "pong"))["time"] > 0
    await ws.close()


async def test_a_tenant_login_sees_only_its_tenants_events(client: TestClient, db: Db, settings: Settings) -> None:
    mine, other = await add_tenant(db, "usr_a"), await add_tenant(db, "usr_b")
    await add_user(db, "ops-a", Role.OPERATOR, tenant_id=mine)
    ws = await connect(client, (await login(client, "ops-a"))["access_token"])
    assert (await frame(ws, "ready"))["user"]["tenant_id"] == mine
    await publish(settings, None, "session.status", {"status": "STOPPED", "n": 1})
    await publish(settings, other, "session.status", {"status": "STOPPED", "n": 2})
    await publish(settings, mine, "session.status", {"status": "WORKING", "n": 3})
    got = await frame(ws, "event")
    assert got["event"]["data"]["n"] == 3
    with pytest.raises(asyncio.TimeoutError):
        await frame(ws, "event", timeout=0.5)
    await ws.close()


async def test_sockets_of_one_tenant_share_one_subscription_released_by_the_last(
    client: TestClient, db: Db, settings: Settings
) -> None:
    tenant = await add_tenant(db, "usr_a")
    await add_user(db, "viewer", Role.USER, tenant_id=tenant)
    token = (await login(client, "viewer"))["access_token"]
    channel = f"wagate:events:{tenant}"
    sockets = [await connect(client, token) for _ in range(3)]
    for ws in sockets:
        await frame(ws, "ready")
    assert await numsub(settings, channel) == 1
    assert client.app[EVENT_HUB].listeners == 3
    for ws in sockets[:2]:
        await ws.close()
    await publish(settings, tenant, "message.read", {"id": 1})
    assert (await frame(sockets[2], "event"))["event"]["event"] == "message.read"
    await sockets[2].close()
    for _ in range(100):
        if await numsub(settings, channel) == 0 and client.app[EVENT_HUB].listeners == 0:
            break
        await asyncio.sleep(0.02)
    assert await numsub(settings, channel) == 0
    assert client.app[EVENT_HUB].listeners == 0


async def test_the_token_may_come_as_a_subprotocol_and_is_never_echoed(client: TestClient, admin_token: str) -> None:
    ws = await client.ws_connect(WS, protocols=(events_ws.PROTOCOL, f"bearer.{admin_token}"))
    assert ws.protocol == events_ws.PROTOCOL
    assert (await frame(ws, "ready"))["user"]["role"] == "admin"
    await ws.close()


@pytest.mark.parametrize("first", [
    {"type": "auth", "token": "not-a-jwt"},
    {"type": "ping"},
    {"type": "auth"},
])
async def test_a_bad_first_frame_closes_with_4001(client: TestClient, first: dict[str, Any]) -> None:
    ws = await connect(client)
    await ws.send_json(first)
    error = await frame(ws, "error")
    assert error["message"]
    assert await closed(ws) == events_ws.CLOSE_UNAUTHORIZED


async def test_no_authentication_in_time_closes_with_4001(client: TestClient, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setattr(events_ws, "AUTH_TIMEOUT_S", 0.3)
    ws = await connect(client)
    assert await closed(ws) == events_ws.CLOSE_UNAUTHORIZED


async def test_a_malformed_frame_closes_with_policy_violation(client: TestClient, admin_token: str) -> None:
    ws = await connect(client, admin_token)
    await frame(ws, "ready")
    await ws.send_str("{nope")
    assert await closed(ws) == 1008


async def test_qr_codes_are_left_out_for_a_view_only_user(client: TestClient, db: Db, settings: Settings) -> None:
    await add_user(db, "viewer", Role.USER)
    await add_user(db, "ops", Role.OPERATOR)
    viewer = await connect(client, (await login(client, "viewer"))["access_token"])
    operator = await connect(client, (await login(client, "ops"))["access_token"])
    await frame(viewer, "ready")
    await frame(operator, "ready")
    await publish(settings, None, "qr.generated", {"qr": "2@secret,code", "expiresIn": 20})
    seen_by_viewer, seen_by_operator = await frame(viewer, "event"), await frame(operator, "event")
    assert seen_by_viewer["event"]["data"] == {"expiresIn": 20}
    assert seen_by_operator["event"]["data"]["qr"] == "2@secret,code"
    await viewer.close()
    await operator.close()


def short_token(settings: Settings, user_id: int, role: str, seconds: float) -> str:
    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "role": role, "jti": uuid.uuid4().hex, "iat": now,
                       "exp": now + seconds}, settings.jwt_secret, algorithm="HS256")


async def test_the_socket_closes_when_its_token_expires_unless_renewed(
    client: TestClient, db: Db, settings: Settings
) -> None:
    user_id = await add_user(db, "root", Role.ADMIN)
    lapsing = await connect(client, short_token(settings, user_id, "admin", 2))
    renewed = await connect(client, short_token(settings, user_id, "admin", 2))
    await frame(lapsing, "ready")
    first = await frame(renewed, "ready")
    await renewed.send_json({"type": "auth", "token": short_token(settings, user_id, "admin", 60)})
    again = await frame(renewed, "ready")
    assert again["expires_at"] > first["expires_at"]
    assert await closed(lapsing, timeout=6) == events_ws.CLOSE_UNAUTHORIZED
    await publish(settings, None, "message.sent", {"id": 1})
    assert (await frame(renewed, "event"))["event"]["event"] == "message.sent"
    await renewed.close()


async def test_renewing_as_someone_else_is_refused(client: TestClient, db: Db, admin_token: str) -> None:
    await add_user(db, "other", Role.ADMIN)
    ws = await connect(client, admin_token)
    await frame(ws, "ready")
    await ws.send_json({"type": "auth", "token": (await login(client, "other"))["access_token"]})
    assert await closed(ws) == events_ws.CLOSE_UNAUTHORIZED


async def test_a_plain_get_is_told_to_upgrade(client: TestClient) -> None:
    response = await client.get(WS)
    assert response.status == 400
    assert "WebSocket" in (await response.json())["message"]


async def test_shutdown_closes_open_sockets_with_going_away(settings: Settings, db: Db) -> None:
    configure_logging(settings, "web")
    await add_user(db, "root", Role.ADMIN)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        ws = await connect(client, (await login(client, "root"))["access_token"])
        await frame(ws, "ready")
        stopping = asyncio.create_task(client.server.close())  # the client keeps reading, as a browser does
        assert await closed(ws) == 1001
        assert ws.close_code == 1001
        await stopping
    finally:
        await client.close()
