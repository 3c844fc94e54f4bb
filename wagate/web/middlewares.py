"""Middlewares every request passes: request id and the one log line, errors as JSON, security headers."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import structlog
from aiohttp import web
from marshmallow import ValidationError

from wagate import session_ids
from wagate.db.models_identity import AUDIT_DENIED
from wagate.errors import Forbidden, OtherTenant, RateLimited, WAGateError, too_large_message
from wagate.logging import security_log
from wagate.observability import metrics
from wagate.services.identity.principal import Principal
from wagate.services.operations import audit
from wagate.web import database_outage
from wagate.web.error_details import field_messages
from wagate.web.keys import DATABASE_OUTAGE, DB, PRINCIPAL, SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("wagate.web")

REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
CLIENT_HTTPS = web.RequestKey("client_https", bool)
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# the path parts that name a refused change's target, first match wins
TARGETS = ("session_id", "user_id", "key_id", "webhook_id", "broadcast_id", "message_id", "delivery_id", "id")
CLIENT_CLOSED = 499  # the status nginx logs for a client that closed its request before the answer
_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def error_body(message: str, details: Any = None) -> dict[str, Any]:
    """The one error answer; `details` always as field → list of messages, or null (wagate.web.error_details)."""
    return {"success": False, "message": message, "details": field_messages(details)}


def json_error(status: int, message: str, details: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(error_body(message, details), status=status, headers=headers)


@functools.lru_cache(maxsize=4096)
def _is_trusted(address: str, proxies: tuple[str, ...]) -> bool:
    """Whether `address` is one of `proxies` (addresses or networks); cached: parsing both on every request
    cost more than the rest of the middleware."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def client_ip(request: web.Request, trusted_proxies: Iterable[str]) -> str:
    """The caller's address: X-Forwarded-For is believed only when the peer is a configured proxy."""
    peer = request.remote or ""
    proxies = tuple(trusted_proxies)

    def trusted(address: str) -> bool:
        return _is_trusted(address, proxies)

    if not trusted(peer):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    # Walk from the nearest hop outwards; the first address that is not one of our proxies is the client.
    for hop in reversed(hops):
        if not trusted(hop):
            return hop
    return hops[0] if hops else peer


def ip_of(request: web.Request) -> str:
    """The client address `request_context` resolved (behind TRUSTED_PROXIES, the forwarded one)."""
    return request.get(CLIENT_IP) or request.remote or "unknown"


def forwarded_https(request: web.Request, trusted_proxies: Iterable[str]) -> bool:
    """Whether the caller reached us over TLS. Behind a TLS-terminating proxy the connection to us is plain HTTP,
    so `X-Forwarded-Proto` decides, but only when the peer is one of TRUSTED_PROXIES: from anyone else the header
    is the caller's own claim and is ignored. Of a list (`https, http`) the last value counts, the one the proxy
    nearest to us saw (nginx.conf overwrites the header with its own `$scheme`)."""
    if not _is_trusted(request.remote or "", tuple(trusted_proxies)):
        return request.secure
    proto = ",".join(request.headers.getall("X-Forwarded-Proto", [])).split(",")[-1].strip().lower()
    return proto == "https" if proto else request.secure


def client_https(request: web.Request) -> bool:
    """`forwarded_https` as `request_context` resolved it for this request."""
    return request.get(CLIENT_HTTPS, request.secure)


def route_template(request: web.Request) -> str | None:
    """The matched route as the router spells it (`/api/sessions/{session_id}`), never the raw URL."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else None


def request_context(trusted_proxies: tuple[str, ...]) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Bind a request id, answer with it, and write the canonical one-line summary of the request."""
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _GOOD_REQUEST_ID.match(given) else uuid.uuid4().hex
        ip = client_ip(request, trusted_proxies)
        request[REQUEST_ID] = request_id
        request[CLIENT_IP] = ip
        request[CLIENT_HTTPS] = forwarded_https(request, trusted_proxies)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-ID"] = request_id
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = CLIENT_CLOSED  # aiohttp cancels the handler of a client that went away
            raise
        finally:
            elapsed = time.perf_counter() - started
            log.info("request", method=request.method, path=request.path, status=status, ip=ip,
                     duration_ms=round(elapsed * 1000, 2))
            metrics.observe_request(request.method, route_template(request), status, elapsed)
            structlog.contextvars.unbind_contextvars("request_id")

    return middleware


def log_denied(request: web.Request, reason: str, caller: Principal | None = None) -> None:
    """The security-log line of a refused access: a role without the permission, a key outside its scope, another
    tenant's session. `caller` defaults to the request's authenticated principal."""
    caller = caller if caller is not None else request.get(PRINCIPAL)
    security_log().warning("access denied", reason=reason, ip=ip_of(request),
                           path=request.path, principal_kind=caller.kind if caller else None,
                           principal_name=caller.name if caller else None,
                           service=caller.service if caller else None)


def denied_action(request: web.Request) -> str:
    """The action a refused change is audited under: the method and the route as the router spells it
    (`DELETE /v1/sessions/{session_id}`), the same for every request to that route."""
    return f"{request.method} {route_template(request) or request.path}"[:64]


async def deny(request: web.Request, reason: str, caller: Principal | None = None, status: int = 403) -> None:
    """`log_denied`, and for a change (POST, PUT, PATCH, DELETE) by an authenticated caller an `audit_logs` row
    with result "denied", written in its own short transaction. A database that cannot take it costs a warning,
    never the refusal (403, or 404 for another tenant's resource)."""
    caller = caller if caller is not None else request.get(PRINCIPAL)
    log_denied(request, reason, caller)
    if caller is None or request.method not in CHANGES:
        return
    match = request.match_info
    target = next(((name, match[name]) for name in TARGETS if name in match), None)
    try:
        async with request.app[DB]() as db, db.begin():
            audit.record(db, actor_type=caller.actor_type, actor_id=caller.actor_id, action=denied_action(request),
                         target_type=target[0].removesuffix("_id") if target and target[0] != "id" else None,
                         target_id=target[1][:64] if target else None, tenant_id=caller.tenant_id,
                         ip=ip_of(request), details={"status": status, "reason": reason},
                         result=AUDIT_DENIED)
    except Exception as exc:  # noqa: BLE001 - the refusal stands whatever the database says
        log.warning("denied change not audited", error=repr(exc), path=request.path)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into `{"success": false, "message", "details"}` with the right status."""
    try:
        return await handler(request)
    except WAGateError as exc:
        if isinstance(exc, Forbidden):
            await deny(request, exc.message)
        elif isinstance(exc, OtherTenant):
            await deny(request, exc.reason, status=exc.status)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return json_error(exc.status, exc.message, exc.details, headers)
    except ValidationError as exc:
        return json_error(400, "Invalid request", exc.messages)
    except json.JSONDecodeError as exc:
        return json_error(400, f"Malformed JSON body: {exc.msg} at position {exc.pos}")
    except UnicodeDecodeError as exc:  # a body read as text (request.json(), .text()) that is not in its charset
        return json_error(400, f"Request body is not valid {exc.encoding.upper()}", {"position": exc.start})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {404: "Not found", 405: "Method not allowed"}.get(exc.status, exc.reason)
        if isinstance(exc, web.HTTPRequestEntityTooLarge):  # aiohttp's own body limit: name it, as uploads do
            message = too_large_message(request.app[SETTINGS].max_upload_mb)
        response = json_error(exc.status, message)
        for name in ("Allow", "Retry-After", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except ConnectionResetError:
        # The client went away while its body was read (a closed keep-alive, a load tool stopping): nobody
        # is there to answer, and it is not a server error.
        log.info("client disconnected", method=request.method, path=request.path)
        return json_error(400, "Connection lost before the request was read")
    except Exception as exc:
        outage = request.app.get(DATABASE_OUTAGE)
        if outage is not None and database_outage.is_unreachable(exc):
            return outage.refuse(exc, request.method, request.path)
        log.exception("unhandled error", method=request.method, path=request.path)
        return json_error(500, "Internal server error", {"request_id": request.get(REQUEST_ID)})


@web.middleware
async def session_id_in_path(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A session id in the URL (`{session_id}` of /api, /v1, /sessions, /simulator) follows the one rule, or 400
    before any route sees it: `..` or `-rf` never reaches a query, a job or the bridge."""
    session_id = request.match_info.get("session_id")
    if session_id is not None:
        session_ids.check(session_id)
    return await handler(request)


_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


SERVER = "WA-Gate"  # no product version for a scanner to match against known flaws


async def server_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, a WebSocket handshake and a file included, names no aiohttp or Python
    version (aiohttp only sets its own `Server` when none is there)."""
    response.headers["Server"] = SERVER


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    headers.setdefault("Content-Security-Policy", _CSP)
    if client_https(request):  # over TLS, straight or through a trusted proxy: never over plain HTTP
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response
