"""The edge of the API, answered before authentication and rate limits: address lists and cross-origin access.

Addresses: `IP_DENY` and `IP_ALLOW` (addresses or CIDRs, IPv4 and IPv6) are matched against the client address
`request_context` resolved (X-Forwarded-For only from TRUSTED_PROXIES). A denied address is refused; when an
allow list is set, only its addresses get in; deny wins over allow. The lists apply to every route, `/health`,
`/metrics` and `/internal/*` included: a load balancer's probes and the services calling `/internal` must be on
the allow list like everyone else (they usually come from a private network that one CIDR covers). A refusal is
403 in the error shape and a line in the security log.

CORS: `CORS_ORIGINS` lists the browser origins that may call the API from another site. A listed origin gets
`Access-Control-Allow-Origin: <that origin>` and `Vary: Origin` on every answer, and its preflight (`OPTIONS` with
`Access-Control-Request-Method`) is answered 204 here, before any route, credential check or limit. A preflight
from any other origin (every origin when the list is empty) is refused with 403 and the JSON error shape; a plain
request from an unlisted origin goes on without CORS headers, so the browser keeps its answer from the page (a
same-origin page that sends `Origin` on a POST is unaffected). `*` lets every origin read the answers.

Credentials: never allowed (no `Access-Control-Allow-Credentials`). The API authenticates with the
`Authorization` or `x-api-key` header, which a cross-origin caller sets itself without credentials mode; the only
cookie is the dashboard's refresh cookie (SameSite=Strict, path-limited), which must never reach another site's
script. Not allowing credentials is also what makes `*` safe to offer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from wagate.web.middlewares import Handler, ip_of, json_error, log_denied

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type", "x-api-key", "Idempotency-Key", "X-Request-Id")
CORS_EXPOSED = ("X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
CORS_MAX_AGE_S = 600


def normalize_origin(origin: str) -> str:
    """An origin as browsers send it: lower-case scheme and host, no trailing slash."""
    return origin.strip().rstrip("/").lower()


def cors(origins: Iterable[str]) -> Any:
    allowed = frozenset(normalize_origin(o) for o in origins)
    everyone = "*" in allowed
    preflight_headers = {
        "Access-Control-Allow-Methods": ", ".join(CORS_METHODS),
        "Access-Control-Allow-Headers": ", ".join(CORS_HEADERS),
        "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
    }

    def allow_origin(origin: str) -> dict[str, str]:
        return {"Access-Control-Allow-Origin": "*" if everyone else origin}

    def vary_on_origin(response: web.StreamResponse) -> None:
        """The answer depends on `Origin` (which origin is echoed, or none): caches must key on it."""
        given = [v.strip() for v in response.headers.get("Vary", "").split(",") if v.strip()]
        if "origin" not in (v.lower() for v in given):
            response.headers["Vary"] = ", ".join([*given, "Origin"])

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is None:
            return await handler(request)
        listed = everyone or normalize_origin(origin) in allowed
        asked = request.headers.get("Access-Control-Request-Method")
        if request.method == "OPTIONS" and asked is not None:  # a preflight: answered here, never by a route
            if not listed:
                log_denied(request, "cross-origin request from an origin not in CORS_ORIGINS")
                return json_error(403, "Cross-origin requests from this origin are not allowed",
                                  {"origin": origin[:200]})
            if asked.upper() not in CORS_METHODS:
                return json_error(403, "Cross-origin requests may not use this method",
                                  {"method": asked[:20], "allowed": list(CORS_METHODS)})
            return web.Response(status=204, headers={**allow_origin(origin), **preflight_headers, "Vary": "Origin"})
        response = await handler(request)
        if not allowed or response.prepared:  # no CORS at all; or a WebSocket or stream already sent its headers
            return response
        if listed:
            response.headers.update({**allow_origin(origin),
                                     "Access-Control-Expose-Headers": ", ".join(CORS_EXPOSED)})
        vary_on_origin(response)
        return response

    return middleware


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip  # ::ffff:203.0.113.7 is 203.0.113.7 to an IPv4 list


def ip_filter(allow: Iterable[str], deny: Iterable[str]) -> Any:
    allowed: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allow)
    denied: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in deny)

    def refused(address: str) -> str | None:
        ip = _address(address)
        if ip is None:  # not an IP address (a Unix socket peer): only an allow list can say no
            return "client address not in IP_ALLOW" if allowed else None
        if any(ip in net for net in denied):
            return "client address in IP_DENY"
        if allowed and not any(ip in net for net in allowed):
            return "client address not in IP_ALLOW"
        return None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        reason = refused(ip_of(request))
        if reason is not None:
            log_denied(request, reason)
            return json_error(403, "Access from this address is not allowed")
        return await handler(request)

    return middleware
