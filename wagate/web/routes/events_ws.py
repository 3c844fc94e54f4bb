"""`GET /api/events`: the dashboard's WebSocket of live gateway events.

Protocol (JSON text frames; subprotocol `wagate.events.v1`):

    client → server  {"type": "auth", "token": "<access token>"}   first frame within 10 s, and again after each
                                                                    refresh so the socket outlives the token
                     {"type": "ping"}                               answered with {"type": "pong"}
    server → client  {"type": "ready", "user": {…}, "expires_at": <unix s>, "heartbeat_s": 25}
                     {"type": "event", "event": {"id", "event", "timestamp", "session", "data"}}
                     {"type": "heartbeat", "time": <unix s>}        after 25 s without an event
                     {"type": "error", "message": "…"}

A browser cannot set headers on a WebSocket, and a URL ends up in logs, so the token comes in the first frame
or, for clients that can, as a second subprotocol `bearer.<token>` beside `wagate.events.v1`. Close codes: 4001
not authenticated or token expired (refresh, then reconnect), 1008 a malformed frame, 1013 the socket fell
behind, 1011 Redis unavailable, 1001 the server is shutting down.

A socket sees the events of its principal's tenant; an install-wide login sees every tenant's and the global
ones. Any dashboard login may listen (`view_logs`); QR codes and pairing codes are left out of the events for
roles that may not link a phone (`send_message`), as `/api/qr` refuses them too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import WSCloseCode, WSMsgType, web
from redis.exceptions import RedisError

from wagate.errors import Unauthorized
from wagate.logging import security_log
from wagate.services.identity import auth
from wagate.services.identity.principal import Permission, Principal
from wagate.web.event_hub import EventHub, Listener
from wagate.web.keys import DB, EVENT_HUB, EVENT_SOCKETS, LIMITER, REDIS, SETTINGS
from wagate.web.middlewares import ip_of, json_error

routes = web.RouteTableDef()

PROTOCOL = "wagate.events.v1"
TOKEN_PROTOCOL = "bearer."  # noqa: S105 - the prefix of a subprotocol, not a secret
AUTH_TIMEOUT_S = 10.0
HEARTBEAT_S = 25.0
MAX_FRAME_BYTES = 16 * 1024
CLOSE_UNAUTHORIZED = 4001
SECRET_QR_FIELDS = ("qr", "pairingCode")
GONE = frozenset({WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})


@dataclass(slots=True)
class Caller:
    principal: Principal
    expires_at: float


class Refused(Exception):
    """The socket must close with `code` and a short reason the browser shows in CloseEvent.reason; `suspect` when
    the client broke the protocol (no authentication in time, a malformed frame), which security.log records."""

    def __init__(self, code: int, reason: str, *, suspect: bool = False) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.suspect = suspect


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """The process's one event hub, on the app's Redis pool (so listed after it in cleanup_ctx)."""
    app[EVENT_SOCKETS] = set()
    app[EVENT_HUB] = EventHub(app[REDIS])
    yield
    await app[EVENT_HUB].close()


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: tell every socket the server is going away, so browsers reconnect to another process."""
    sockets: list[web.WebSocketResponse] = [*app[EVENT_SOCKETS]]
    await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutting down")
                           for ws in sockets), return_exceptions=True)


def visible(event: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The event as this caller may see it: no QR or pairing code without `send_message`."""
    data = event.get("data")
    if event.get("event") != "qr.generated" or principal.can(Permission.SEND_MESSAGE) or not isinstance(data, dict):
        return event
    return {**event, "data": {k: v for k, v in data.items() if k not in SECRET_QR_FIELDS}}


def _offered_token(request: web.Request) -> str | None:
    for offered in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
        offered = offered.strip()
        if offered.startswith(TOKEN_PROTOCOL) and len(offered) > len(TOKEN_PROTOCOL):
            return offered[len(TOKEN_PROTOCOL):]
    return None


async def _authenticate(request: web.Request, token: str) -> Caller:
    app = request.app
    try:
        principal, _ = await auth.user_principal(app[DB], app[SETTINGS], token)
    except Unauthorized as exc:
        security_log().warning("authentication failed", reason=exc.message, ip=ip_of(request), path=request.path)
        if exc.message != "Token expired":
            await app[LIMITER].auth_failed(ip_of(request))
        raise Refused(CLOSE_UNAUTHORIZED, exc.message) from None
    if not principal.can(Permission.VIEW_LOGS):
        raise Refused(CLOSE_UNAUTHORIZED, "Permission denied: view_logs required")
    # decode_access has verified the signature and expiry; the expiry is read here to close the socket on time.
    expires_at = float(jwt.decode(token, options={"verify_signature": False})["exp"])
    return Caller(principal, expires_at)


def _parse(raw: str) -> dict[str, Any]:
    try:
        frame = json.loads(raw)
    except ValueError:
        raise Refused(WSCloseCode.POLICY_VIOLATION, "Frames are JSON objects", suspect=True) from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise Refused(WSCloseCode.POLICY_VIOLATION, "Frames are JSON objects with a type", suspect=True)
    return frame


def _token_of(frame: dict[str, Any]) -> str:
    token = frame.get("token")
    if frame["type"] != "auth" or not isinstance(token, str) or not token:
        raise Refused(CLOSE_UNAUTHORIZED, "Authenticate first: {\"type\": \"auth\", \"token\": …}", suspect=True)
    return token


async def _first_caller(request: web.Request, ws: web.WebSocketResponse) -> Caller:
    token = _offered_token(request)
    if token is None:
        try:
            message = await ws.receive(timeout=AUTH_TIMEOUT_S)
        except TimeoutError:
            raise Refused(CLOSE_UNAUTHORIZED, "No authentication within 10 s", suspect=True) from None
        if message.type != WSMsgType.TEXT:  # a client that just went away is no protocol breach
            raise Refused(CLOSE_UNAUTHORIZED, "Authenticate first", suspect=message.type not in GONE)
        token = _token_of(_parse(message.data))
    return await _authenticate(request, token)


def _ready(caller: Caller) -> dict[str, Any]:
    p = caller.principal
    return {"type": "ready", "user": {"name": p.name, "role": p.role, "tenant_id": p.tenant_id},
            "expires_at": int(caller.expires_at), "heartbeat_s": HEARTBEAT_S}


class Socket:
    """One connected dashboard: forwards its listener's events, answers its frames, closes when its token ends."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, caller: Caller) -> None:
        self.request = request
        self.ws = ws
        self.caller = caller
        self._send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_str(json.dumps(frame, separators=(",", ":"), default=str))

    async def pump(self, listener: Listener) -> None:
        """Events out, a heartbeat when quiet; closes on token expiry or overflow."""
        while not self.ws.closed:
            remaining = self.caller.expires_at - time.time()
            if remaining <= 0:
                raise Refused(CLOSE_UNAUTHORIZED, "Token expired")
            if listener.overflowed.is_set():
                raise Refused(WSCloseCode.TRY_AGAIN_LATER, "Too far behind; reconnect and reload")
            try:
                async with asyncio.timeout(min(remaining, HEARTBEAT_S)):
                    event = await listener.queue.get()
            except TimeoutError:
                if self.caller.expires_at > time.time():
                    await self.send({"type": "heartbeat", "time": int(time.time())})
                continue
            await self.send({"type": "event", "event": visible(event, self.caller.principal)})

    async def receive(self) -> None:
        """Frames in: a renewed token, or a ping."""
        async for message in self.ws:
            if message.type != WSMsgType.TEXT:
                raise Refused(WSCloseCode.UNSUPPORTED_DATA, "Text frames only", suspect=True)
            frame = _parse(message.data)
            if frame["type"] == "ping":
                await self.send({"type": "pong", "time": int(time.time())})
            elif frame["type"] == "auth":
                renewed = await _authenticate(self.request, _token_of(frame))
                if renewed.principal.user_id != self.caller.principal.user_id or \
                        renewed.principal.tenant_id != self.caller.principal.tenant_id:
                    raise Refused(CLOSE_UNAUTHORIZED, "A different login: reconnect")
                self.caller = renewed
                await self.send(_ready(renewed))
            else:
                await self.send({"type": "error", "message": f"Unknown frame type {frame['type']!r}"})


async def _serve(request: web.Request, ws: web.WebSocketResponse) -> None:
    caller = await _first_caller(request, ws)
    try:
        listener = await request.app[EVENT_HUB].join(caller.principal.tenant_id)
    except (RedisError, OSError):
        raise Refused(WSCloseCode.INTERNAL_ERROR, "Live events unavailable (Redis); retry shortly") from None
    socket = Socket(request, ws, caller)
    try:
        await socket.send(_ready(caller))
        pump = asyncio.create_task(socket.pump(listener))
        receive = asyncio.create_task(socket.receive())
        done, pending = await asyncio.wait({pump, receive}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a Refused closes with its code below
    finally:
        await request.app[EVENT_HUB].leave(listener)


@routes.get("/api/events")
async def events(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(protocols=(PROTOCOL,), heartbeat=HEARTBEAT_S, max_msg_size=MAX_FRAME_BYTES)
    if not ws.can_prepare(request).ok:
        return json_error(400, "GET /api/events is a WebSocket: connect with Upgrade: websocket")
    await ws.prepare(request)
    sockets = request.app[EVENT_SOCKETS]
    sockets.add(ws)
    try:
        await _serve(request, ws)
    except Refused as refused:
        if refused.suspect:
            security_log().warning("websocket refused", reason=refused.reason, close_code=int(refused.code),
                                   ip=ip_of(request), path=request.path)
        with contextlib.suppress(ConnectionError, RuntimeError):
            if not ws.closed:
                await ws.send_str(json.dumps({"type": "error", "message": refused.reason}))
        await ws.close(code=refused.code, message=refused.reason.encode()[:120])
    except (ConnectionError, asyncio.CancelledError):
        pass  # the peer went away, or the server is stopping
    finally:
        sockets.discard(ws)
        if not ws.closed:
            await ws.close()
    return ws
