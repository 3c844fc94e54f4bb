"""Rate limits on the web side: `rate_limited(name)`, `login_limited`, the IP-ban middleware and their headers.

Per-route limits (`send`, `broadcast`, `dashboard`, `qr`) count per dashboard user, per API key and per session (a
`/wa` token), or per client address before anyone is authenticated; the login limit counts failed logins per
address and username (`login_limited`). An API key
also counts against its role's hourly limit, and a session token against RATE_LIMIT_SESSION, both in `auth`: a
request must be within both. Internal callers pass untouched; `/internal/*` never sees any of it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from wagate.errors import Unauthorized
from wagate.logging import security_log
from wagate.observability import metrics
from wagate.services.identity.api_keys import KeyUsage
from wagate.services.operations.limiter import ROUTE_LIMITS, Decision, Limiter
from wagate.web.keys import DB, KEY_USAGE, LIMITER, PRINCIPAL, REDIS, SETTINGS
from wagate.web.middlewares import ip_of, json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EXEMPT_PREFIXES = ("/internal/", "/health")  # service-to-service calls and liveness probes are never refused


def exempt(path: str) -> bool:
    return path == "/internal" or path.startswith(EXEMPT_PREFIXES)


def too_many(decision: Decision, message: str) -> web.Response:
    return json_error(429, message, {"limit": decision.limit, "retry_after": decision.retry_after},
                      headers=decision.headers())


def with_headers(response: web.StreamResponse, decision: Decision | None) -> web.StreamResponse:
    """Add the X-RateLimit-* headers to an answer (not to one already sent, such as a WebSocket). When two limits
    applied (a key's role limit and the route's), the one with fewer requests left is reported, and a refusal's
    own headers are never replaced."""
    if decision is None or response.prepared:
        return response
    shown = response.headers.get("X-RateLimit-Remaining")
    if shown is None or (shown.isdigit() and decision.remaining < int(shown)):
        response.headers.update(decision.headers())
    return response


async def _login_username(request: web.Request) -> str:
    try:
        body: Any = await request.json()  # aiohttp keeps the body: the handler reads it again for free
    except ValueError:
        return ""
    username = body.get("username") if isinstance(body, dict) else None
    return username.strip().lower()[:64] if isinstance(username, str) else ""


def rate_limited(name: str) -> Callable[[Handler], Handler]:
    """Apply the named per-route limit; place it under `require…` so it counts per user, key or session."""
    if name not in ROUTE_LIMITS:
        raise ValueError(f"unknown rate limit {name!r}; expected one of {', '.join(ROUTE_LIMITS)}")

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            principal = request.get(PRINCIPAL)
            if principal is None:
                identifiers: tuple[str, ...] = ("ip", ip_of(request))
            elif principal.kind == "user":
                identifiers = ("user", str(principal.user_id))
            elif principal.kind == "api_key":
                identifiers = ("api_key", str(principal.api_key_id))
            elif principal.kind == "session" and principal.session_id is not None:
                identifiers = ("session", principal.session_id)
            else:  # internal services: never limited
                return await handler(request)
            decision = await request.app[LIMITER].hit_route(name, *identifiers)
            if decision is not None and not decision.allowed:
                security_log().warning("rate limit reached", limit_name=name, ip=ip_of(request),
                                       principal_kind=principal.kind if principal else None,
                                       principal_name=principal.name if principal else None,
                                       user_id=principal.user_id if principal else None, path=request.path)
                metrics.count_rejection(name)
                return too_many(decision, f"Too many requests ({name}); try again in {decision.retry_after} s")
            return with_headers(await handler(request), decision)

        return wrapper

    return decorate


def login_limited(handler: Handler) -> Handler:
    """RATE_LIMIT_LOGIN per address and username, counting failed logins only: a 401 keeps its place in the
    window, a login that succeeds (or is refused for another reason) gives it back."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        limiter = request.app[LIMITER]
        attempt = await limiter.take_login_place("ip", ip_of(request), "user", await _login_username(request))
        if attempt is not None and not attempt.decision.allowed:
            security_log().warning("rate limit reached", limit_name="login", ip=ip_of(request), path=request.path)
            metrics.count_rejection("login")
            return too_many(attempt.decision, f"Too many failed logins; try again in {attempt.decision.retry_after} s")
        try:
            response = await handler(request)
        except Unauthorized as exc:
            return with_headers(json_error(exc.status, exc.message, exc.details),
                                attempt.decision if attempt is not None else None)
        except BaseException:
            if attempt is not None:
                await limiter.give_back(attempt)
            raise
        return with_headers(response, await limiter.give_back(attempt) if attempt is not None else None)

    return wrapper


@web.middleware
async def ip_ban(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse every public request from an address banned for repeated authentication failures."""
    if exempt(request.path):
        return await handler(request)
    seconds = await request.app[LIMITER].banned_for(ip_of(request))
    if seconds:
        decision = Decision(False, 0, 0, time.time() + seconds)
        security_log().warning("request refused: address banned", ip=ip_of(request), path=request.path,
                               retry_after=seconds)
        metrics.count_rejection("ip_ban")
        return too_many(decision, f"Too many authentication failures from this address; try again in {seconds} s")
    return await handler(request)


async def limiter_context(app: web.Application) -> AsyncIterator[None]:
    """The limiter and its Redis pool, made at start-up (never at import) and closed at shutdown."""
    app[LIMITER] = Limiter.from_settings(app[SETTINGS])
    yield
    await app[LIMITER].close()


async def key_usage_context(app: web.Application) -> AsyncIterator[None]:
    """Batched `last_used_at` writes; the last batch is written at shutdown. Needs the database context first."""
    app[KEY_USAGE] = KeyUsage(app[DB], app[REDIS])
    app[KEY_USAGE].start()
    yield
    await app[KEY_USAGE].stop()
