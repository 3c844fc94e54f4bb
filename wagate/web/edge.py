"""The edge of the API, answered before authentication and rate limits: cross-origin (CORS) access.

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

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from wagate.web.middlewares import Handler, json_error, log_denied

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
