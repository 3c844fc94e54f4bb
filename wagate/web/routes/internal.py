"""The internal reseller API (`/internal/*`, seeds 001/002): services manage their users and subscriptions.

Authenticated by `x-internal-api-key` (or Bearer) against INTERNAL_API_KEYS; a scoped key works only on its
own `source_service`. Answers are the seed's plain objects (`{"auth": …}`, `{"user": …}`), errors the
gateway's `{success: false, message, details}`. Every change is in the audit log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.schemas import tenants as schemas
from wagate.services.identity import tenants
from wagate.web.auth import principal, require_internal
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, json_body, load, query

routes = web.RouteTableDef()


def _scope(request: web.Request) -> str | None:
    return principal(request).service


@routes.get("/internal/me")
@require_internal()
async def me(request: web.Request) -> web.Response:
    service = _scope(request)
    return web.json_response({"auth": {"mode": "scoped" if service else "global", "source_service": service}})


@routes.get("/internal/users")
@require_internal()
async def list_users(request: web.Request) -> web.Response:
    params = query(request, schemas.UsersQuerySchema)
    page = await tenants.list_tenants(request.app[DB], scope=_scope(request), **params)
    return web.json_response({
        "users": [schemas.user(view) for view in page.items],
        "page": page.page, "limit": page.limit, "total": page.total,
        "source": _scope(request) or params["source"],
    })


@routes.post("/internal/users")
@require_internal()
async def upsert_user(request: web.Request) -> web.Response:
    data = load(schemas.UserUpsertSchema, await json_body(request))
    user_id = data.pop("user_id")
    app = request.app
    result = await tenants.upsert_tenant(app[DB], app[REDIS], scope=_scope(request), user_id=user_id, values=data,
                                         timezone=app[SETTINGS].timezone, actor=actor(request))
    body: dict[str, Any] = {"created": result.created, "user": schemas.user(result.view)}
    if result.api_key is not None:  # shown once, when the user is created; only its hash is kept
        body["api_key"] = result.api_key
        body["key"] = schemas.key_info(result.view)
    return web.json_response(body)


@routes.put("/internal/users/{user_id}")
@require_internal()
async def update_user(request: web.Request) -> web.Response:
    source = query(request, schemas.SourceQuerySchema)["source"]
    data = load(schemas.UserUpdateSchema, await json_body(request))
    app = request.app
    view = await tenants.update_tenant(app[DB], app[REDIS], request.match_info["user_id"], scope=_scope(request),
                                       source=source, values=data, timezone=app[SETTINGS].timezone,
                                       actor=actor(request))
    return web.json_response({"user": schemas.user(view)})


@routes.get("/internal/users/{user_id}/apikey")
@require_internal()
async def api_key_info(request: web.Request) -> web.Response:
    source = query(request, schemas.SourceQuerySchema)["source"]
    view = await tenants.get_api_key(request.app[DB], request.match_info["user_id"], scope=_scope(request),
                                     source=source)
    return web.json_response({"user_id": view.tenant.user_id, "source": view.tenant.source_service,
                              "key": schemas.key_info(view)})


@routes.post("/internal/users/{user_id}/apikey/rotate")
@require_internal()
async def rotate_api_key(request: web.Request) -> web.Response:
    source = query(request, schemas.SourceQuerySchema)["source"]
    rotated = await tenants.rotate_api_key(request.app[DB], request.app[REDIS], request.match_info["user_id"],
                                           scope=_scope(request), source=source, actor=actor(request))
    return web.json_response({"user_id": rotated.view.tenant.user_id, "source": rotated.view.tenant.source_service,
                              "api_key": rotated.api_key, "key": schemas.key_info(rotated.view)})
