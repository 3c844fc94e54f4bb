"""The guard of the routes that set or read the refresh cookie (`/api/auth/login`, `/refresh`, `/logout`).

A page on another site can make a visitor's browser post a form or a `text/plain` body here without asking
first; a login posted that way leaves the visitor logged into the attacker's account (login CSRF). Two checks:

- a body is JSON (`application/json`, 415 otherwise): a cross-site page can send that only after a CORS
  preflight, and the gateway never allows credentials cross-origin (wagate.web.edge);
- a browser that says the request comes from another site is refused (403, in security.log):
  `Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` whose host is not the one the request was sent to,
  unless that origin is listed in CORS_ORIGINS. API clients send neither header and are unaffected.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from wagate.errors import Forbidden, UnsupportedMediaType
from wagate.web.edge import normalize_origin
from wagate.web.keys import SETTINGS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OTHER_SITES = frozenset({"cross-site", "same-site"})  # same-site: a sibling subdomain is not this origin


def _host(origin_or_host: str) -> str | None:
    try:
        return urlsplit(origin_or_host if "//" in origin_or_host else "//" + origin_or_host).hostname
    except ValueError:
        return None


def _from_another_site(request: web.Request) -> str | None:
    """Why the request looks cross-site, or None. Ports are not compared: a proxy's `Host` may drop them."""
    origin = request.headers.get("Origin")
    allowed = request.app[SETTINGS].cors_origins
    if origin is not None and ("*" in allowed or normalize_origin(origin) in {normalize_origin(o) for o in allowed}):
        return None
    if request.headers.get("Sec-Fetch-Site", "").lower() in OTHER_SITES:
        return f"Sec-Fetch-Site: {request.headers['Sec-Fetch-Site'][:20]}"
    if origin is not None and (_host(origin) is None or _host(origin) != _host(request.host)):
        return f"Origin {origin[:100]} is not this site"
    return None


def _json_or_empty(request: web.Request) -> bool:
    if not request.body_exists:
        return True  # no body (a refresh by cookie, a logout by bearer token): it carries no credentials
    return request.content_type == "application/json"


def same_site_json(handler: Handler) -> Handler:
    """Refuse cross-site requests (403) and bodies that are not JSON (415) before the handler reads anything."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        if reason := _from_another_site(request):
            raise Forbidden("Cross-site requests may not log in or use the refresh cookie", {"reason": reason})
        if not _json_or_empty(request):
            raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json)",
                                       {"content_type": [request.content_type]})
        return await handler(request)

    return wrapper
