"""API keys, for admins only: `GET|POST /api/keys` (the plaintext is in the create answer, once), `DELETE` revokes;
an admin bound to a tenant sees and manages that tenant's keys only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.schemas import auth as schemas
from wagate.services.identity import api_keys
from wagate.services.identity.principal import Permission
from wagate.web.auth import principal, rate_limited, require
from wagate.web.keys import DB, REDIS
from wagate.web.middlewares import ip_of
from wagate.web.replies import json_body

routes = web.RouteTableDef()


def _ok(message: str, data: Any = None, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data}, status=status)


@routes.get("/api/keys")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def list_keys(request: web.Request) -> web.StreamResponse:
    found = await api_keys.list_keys(request.app[DB], principal(request))
    return _ok("API keys", schemas.ApiKeySchema(many=True).dump(found))


@routes.post("/api/keys")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def create_key(request: web.Request) -> web.StreamResponse:
    data = schemas.load(schemas.ApiKeyCreateSchema, await json_body(request))
    created = await api_keys.create_key(request.app[DB], principal(request), data, ip=ip_of(request))
    body = {**schemas.ApiKeySchema().dump(created.key), "key": created.plaintext}
    response = _ok("API key created; store it now, it is not shown again", body, status=201)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.delete("/api/keys/{key_id:\\d+}")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def revoke_key(request: web.Request) -> web.StreamResponse:
    key = await api_keys.revoke_key(request.app[DB], request.app[REDIS], principal(request),
                                    int(request.match_info["key_id"]), ip=ip_of(request))
    return _ok("API key revoked", schemas.ApiKeySchema().dump(key))
