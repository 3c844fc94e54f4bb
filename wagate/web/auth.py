"""Who may call a route: the `require…` decorators that authenticate a request and put its Principal on it.

    require(*permissions, kinds=("user", "api_key"))   dashboard JWT or API key (Bearer or x-api-key), RBAC matrix
    require_customer(allow_expired=False)              /v1/*: x-api-key of a tenant's key, live subscription
    require_internal()                                 /internal/*: x-internal-api-key or Bearer, INTERNAL_API_KEYS
    require_session_token()                            /wa/*: a session's own token (`token` header, Bearer or
                                                       ?token=), live subscription, RATE_LIMIT_SESSION per session

Every refusal is JSON (401 with `WWW-Authenticate`, 403 naming what is missing) and a security log line. A request
carrying two different credentials (an `x-api-key` and another `Authorization`, a `?token=` and another Bearer)
is refused with 401: which of the two should speak for it is not ours to guess.
Presented-but-wrong credentials count towards the IP ban; a missing or merely expired credential does not,
since dashboards present expired tokens all day before refreshing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from wagate.errors import Forbidden, Unauthorized
from wagate.logging import security_log
from wagate.observability import metrics
from wagate.services.identity import auth, key_cache
from wagate.services.identity.principal import Permission, Principal, PrincipalKind
from wagate.services.operations.limiter import Decision
from wagate.web.keys import DB, KEY_USAGE, LIMITER, PRINCIPAL, REDIS, SETTINGS
from wagate.web.limits import Handler, rate_limited, too_many, with_headers
from wagate.web.middlewares import deny, ip_of, json_error

__all__ = ["PRINCIPAL", "key_cache_context", "principal", "rate_limited", "require", "require_customer",
           "require_internal", "require_session_token", "required_permissions", "session_token"]

API_KEY_PREFIX = "wag_"
NOT_COUNTED = ("Authentication required", "Token expired")
_REQUIRED = "__wagate_permissions__"  # set by `require` on its wrapper, read by `required_permissions`


async def key_cache_context(app: web.Application) -> AsyncIterator[None]:
    """Hear every process's key changes for as long as the app runs (see `wagate.services.identity.key_cache`)."""
    stop = asyncio.Event()
    listener = asyncio.create_task(key_cache.listen(app[REDIS], stop), name="key-cache-listener")
    yield
    stop.set()
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener


def required_permissions(handler: Callable[..., Any]) -> frozenset[Permission] | None:
    """The permissions a handler wrapped in `require` checks; None for a handler `require` does not guard.
    The OpenAPI test and the RBAC test read the router with it, so neither can drift from the code."""
    return getattr(handler, _REQUIRED, None)


def principal(request: web.Request) -> Principal:
    """The authenticated caller of a handler wrapped in one of the `require…` decorators."""
    return request[PRINCIPAL]


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _conflicting(request: web.Request, first: str | None) -> bool:
    """Whether an `Authorization` header comes with the credential `first` and is not a Bearer of the same value."""
    return first is not None and "Authorization" in request.headers and _bearer(request) != first


async def _refuse_conflict(request: web.Request, first: str) -> web.Response:
    return await _unauthorized(request, f"Conflicting credentials: send either {first} or Authorization, not two "
                                        "different ones", count=False)


async def _unauthorized(request: web.Request, message: str, *, count: bool = True, **log: Any) -> web.Response:
    security_log().warning("authentication failed", reason=message, ip=ip_of(request), path=request.path, **log)
    if count and message not in NOT_COUNTED:
        await request.app[LIMITER].auth_failed(ip_of(request))
    return json_error(401, message, headers={"WWW-Authenticate": 'Bearer realm="wa-gate"'})


async def _forbidden(request: web.Request, caller: Principal, message: str, details: Any = None) -> web.Response:
    await deny(request, message, caller)
    return json_error(403, message, details)


async def _within(request: web.Request, caller: Principal, handler: Handler, decision: Decision | None,
                  limit: str, message: str) -> web.StreamResponse:
    """Run `handler` as `caller` when `decision` allows it (the route's own limits then count as well); a 429
    and a security-log line when it does not."""
    if decision is not None and not decision.allowed:
        security_log().warning("rate limit reached", limit_name=limit, ip=ip_of(request), path=request.path,
                               principal_kind=caller.kind, principal_name=caller.name)
        metrics.count_rejection(limit.replace(":", "_"))
        return too_many(decision, f"{message} ({decision.limit} requests); try again in {decision.retry_after} s")
    request[PRINCIPAL] = caller
    return with_headers(await handler(request), decision)


async def _limit_key(request: web.Request, caller: Principal, handler: Handler) -> web.StreamResponse:
    """Run `handler` under the caller's role limit (API keys) and note the key's use for `last_used_at`."""
    assert caller.api_key_id is not None and caller.role is not None
    request.app[KEY_USAGE].used(caller.api_key_id)
    decision = await request.app[LIMITER].hit_key(caller.role, caller.api_key_id)
    return await _within(request, caller, handler, decision, f"api_key:{caller.role}",
                         f"API key rate limit reached for a {caller.role} key")


def require(*permissions: Permission, kinds: tuple[PrincipalKind, ...] = ("user", "api_key")) -> Callable[
        [Handler], Handler]:
    """A dashboard JWT or an API key whose role holds every one of `permissions`."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            app = request.app
            key = request.headers.get("x-api-key") or None
            if _conflicting(request, key):
                return await _refuse_conflict(request, "x-api-key")
            bearer = _bearer(request)
            if key is None and bearer is not None and bearer.startswith(API_KEY_PREFIX):
                key, bearer = bearer, None
            try:
                if key is not None:
                    caller = (await auth.api_key_principal(app[DB], key)).principal
                elif bearer is not None:
                    caller, _ = await auth.user_principal(app[DB], app[SETTINGS], bearer)
                else:
                    return await _unauthorized(request, "Authentication required", count=False)
            except Unauthorized as exc:
                return await _unauthorized(request, exc.message)
            if caller.kind not in kinds:
                return await _forbidden(request, caller, "This route does not accept "
                                  + ("API keys" if caller.kind == "api_key" else "dashboard logins"))
            missing = [p.value for p in permissions if not caller.can(p)]
            if missing:
                return await _forbidden(request, caller, f"Permission denied: {', '.join(missing)} required",
                                  {"required": missing, "role": caller.role})
            if caller.kind == "api_key":
                return await _limit_key(request, caller, handler)
            request[PRINCIPAL] = caller
            return await handler(request)

        setattr(wrapper, _REQUIRED, frozenset(permissions))
        return wrapper

    return decorate


def require_customer(allow_expired: bool = False) -> Callable[[Handler], Handler]:
    """/v1/*: the `x-api-key` of a tenant's key; 403 once the subscription has expired unless `allow_expired`."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            key = request.headers.get("x-api-key")
            if not key:
                return await _unauthorized(request, "Authentication required", count=False)
            if _conflicting(request, key):
                return await _refuse_conflict(request, "x-api-key")
            try:
                owner = await auth.api_key_principal(request.app[DB], key)
            except Unauthorized as exc:
                return await _unauthorized(request, exc.message)
            caller = owner.principal
            if caller.tenant_id is None:
                return await _forbidden(request, caller, "A customer API key is required")
            if not allow_expired:
                try:
                    auth.check_subscription(owner)
                except Forbidden as exc:
                    return await _forbidden(request, caller, exc.message, exc.details)
            return await _limit_key(request, caller, handler)

        return wrapper

    return decorate


def require_internal() -> Callable[[Handler], Handler]:
    """/internal/*: a configured INTERNAL_API_KEYS entry; none configured means every call is refused."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("x-internal-api-key") or None
            if _conflicting(request, header):
                return await _refuse_conflict(request, "x-internal-api-key")
            given = header or _bearer(request)
            if not given:
                return await _unauthorized(request, "Authentication required", count=False)
            try:
                caller = auth.internal_principal(request.app[SETTINGS].internal_api_keys, given)
            except Unauthorized as exc:
                return await _unauthorized(request, exc.message, count=False)  # /internal/* is exempt from bans
            request[PRINCIPAL] = caller
            return await handler(request)

        return wrapper

    return decorate


def session_token(request: web.Request) -> str | None:
    """wuzapi's order: the `token` header, then `Authorization: Bearer`, then `?token=`."""
    return request.headers.get("token") or _bearer(request) or request.query.get("token") or None


def _conflicting_session_tokens(request: web.Request) -> bool:
    """Two different session credentials in one request (a non-Bearer `Authorization` counts as one)."""
    given = {value for value in (request.headers.get("token"), request.query.get("token")) if value}
    if "Authorization" in request.headers:
        given.add(_bearer(request) or "")
    return len(given) > 1


def require_session_token() -> Callable[[Handler], Handler]:
    """/wa/*: the per-session token (see `session_token`) of a session whose subscription is live."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            if _conflicting_session_tokens(request):
                return await _unauthorized(request, "Conflicting credentials: send one session token (the `token` "
                                                    "header, a Bearer or ?token=), not two different ones", count=False)
            token = session_token(request)
            if not token:
                return await _unauthorized(request, "Authentication required", count=False)
            try:
                owner = await auth.session_principal(request.app[DB], token)
            except Unauthorized as exc:
                return await _unauthorized(request, exc.message)
            caller = owner.principal
            try:
                auth.check_subscription(owner)
            except Forbidden as exc:
                return await _forbidden(request, caller, exc.message, exc.details)
            assert caller.session_id is not None
            decision = await request.app[LIMITER].hit_session(caller.session_id)
            return await _within(request, caller, handler, decision, "session_token",
                                 "Session token rate limit reached")

        return wrapper

    return decorate
