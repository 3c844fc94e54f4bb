"""Dashboard login: `/api/auth/login`, `/refresh`, `/logout`, `/me`, `/change-password`.

The refresh token travels in an HttpOnly, SameSite=Strict cookie scoped to /api/auth (for the browser, where
scripts never see it) and, for API clients, in the JSON body too, unless the login asked for `cookie_only` or
the refresh came by cookie: a page then never holds the token a script injected into it could steal. The
access token is a 15-minute JWT.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.errors import Unauthorized
from wagate.logging import security_log
from wagate.schemas import auth as schemas
from wagate.services.identity import auth, tokens, users
from wagate.services.identity.principal import Permission, Principal
from wagate.web.auth import principal, require
from wagate.web.cross_site import same_site_json
from wagate.web.keys import DB, LIMITER, SETTINGS
from wagate.web.limits import login_limited
from wagate.web.middlewares import client_https, ip_of, json_error
from wagate.web.replies import json_body

routes = web.RouteTableDef()
COOKIE = "wagate_refresh"
COOKIE_PATH = "/api/auth"


def _ok(message: str, data: Any = None) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data})


def _token_answer(request: web.Request, message: str, user: Any, issued: tokens.IssuedTokens, *,
                  in_body: bool) -> web.Response:
    data = {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in,
            "refresh_token": issued.refresh_token, "user": schemas.UserSchema().dump(user)}
    if not in_body:
        del data["refresh_token"]
    response = _ok(message, data)
    response.set_cookie(COOKIE, issued.refresh_token, max_age=request.app[SETTINGS].refresh_token_ttl,
                        path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=client_https(request))  # TLS straight or via a trusted proxy's X-Forwarded-Proto
    response.headers["Cache-Control"] = "no-store"  # tokens must not sit in any cache
    return response


@routes.post("/api/auth/login")
@same_site_json
@login_limited
async def login(request: web.Request) -> web.StreamResponse:
    data = schemas.load(schemas.LoginSchema, await json_body(request, empty={}))
    ip = ip_of(request)
    try:
        result = await auth.login(request.app[DB], request.app[SETTINGS], data["username"], data["password"], ip=ip,
                                  user_agent=request.headers.get("User-Agent"))
    except Unauthorized:
        await request.app[LIMITER].auth_failed(ip)
        raise
    return _token_answer(request, "Logged in", result.user, result.tokens, in_body=not data["cookie_only"])


@routes.post("/api/auth/refresh")
@same_site_json
async def refresh(request: web.Request) -> web.StreamResponse:
    data = schemas.load(schemas.RefreshSchema, await json_body(request, empty={}))
    given = data["refresh_token"] or request.cookies.get(COOKIE)
    if not given:
        return json_error(401, "Refresh token required")
    try:
        user, issued = await tokens.rotate(request.app[DB], request.app[SETTINGS], given, ip=ip_of(request),
                                           user_agent=request.headers.get("User-Agent"))
    except Unauthorized as exc:
        security_log().warning("refresh token refused", reason=exc.message, ip=ip_of(request), path=request.path)
        response = json_error(401, exc.message)
        response.del_cookie(COOKIE, path=COOKIE_PATH)
        return response
    return _token_answer(request, "Token refreshed", user, issued, in_body=bool(data["refresh_token"]))


@routes.post("/api/auth/logout")
@same_site_json
async def logout(request: web.Request) -> web.StreamResponse:
    """Revoke the refresh family (token from the body or cookie); works with an expired access token too."""
    data = schemas.load(schemas.RefreshSchema, await json_body(request, empty={}))
    family_id = None
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer:
        try:
            family_id = tokens.decode_access(request.app[SETTINGS], bearer.strip()).family_id
        except Unauthorized:
            family_id = None
    revoked = await auth.logout(request.app[DB], data["refresh_token"] or request.cookies.get(COOKIE), family_id)
    response = _ok("Logged out", {"refresh_tokens_revoked": revoked})
    response.del_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _describe(caller: Principal) -> dict[str, Any]:
    return {"kind": caller.kind, "role": caller.role, "tenant_id": caller.tenant_id, "name": caller.name,
            "permissions": sorted(p.value for p in Permission if caller.can(p))}


@routes.get("/api/auth/me")
@require()
async def me(request: web.Request) -> web.StreamResponse:
    caller = principal(request)
    data = _describe(caller)
    if caller.kind == "user" and caller.user_id is not None:
        data["user"] = schemas.UserSchema().dump(await users.get_user(request.app[DB], caller, caller.user_id))
    else:
        data["api_key_id"] = caller.api_key_id
    return _ok("Current caller", data)


@routes.post("/api/auth/change-password")
@require(kinds=("user",))
async def change_password(request: web.Request) -> web.StreamResponse:
    data = schemas.load(schemas.ChangePasswordSchema, await json_body(request, empty={}))
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    family_id = tokens.decode_access(request.app[SETTINGS], bearer.strip()).family_id
    revoked = await auth.change_password(request.app[DB], principal(request), data["old_password"],
                                         data["new_password"], keep_family=family_id, ip=ip_of(request))
    return _ok("Password changed", {"refresh_tokens_revoked": revoked})
