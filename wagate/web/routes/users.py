"""Dashboard users, for admins only: `GET|POST /api/users`, `GET|PUT|DELETE /api/users/{id}`; an admin bound to a
tenant sees and manages that tenant's users only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.schemas import auth as schemas
from wagate.services.identity import users
from wagate.services.identity.principal import Permission
from wagate.web.auth import principal, rate_limited, require
from wagate.web.keys import DB, REDIS
from wagate.web.middlewares import ip_of
from wagate.web.replies import json_body

routes = web.RouteTableDef()


def _ok(message: str, data: Any = None, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data}, status=status)


def _user_id(request: web.Request) -> int:
    return int(request.match_info["user_id"])  # the route admits digits only


@routes.get("/api/users")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def list_users(request: web.Request) -> web.StreamResponse:
    return _ok("Users", schemas.UserSchema(many=True).dump(await users.list_users(request.app[DB], principal(request))))


@routes.post("/api/users")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def create_user(request: web.Request) -> web.StreamResponse:
    data = schemas.load(schemas.UserCreateSchema, await json_body(request))
    user = await users.create_user(request.app[DB], principal(request), data, ip=ip_of(request))
    return _ok("User created", schemas.UserSchema().dump(user), status=201)


@routes.get("/api/users/{user_id:\\d+}")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def get_user(request: web.Request) -> web.StreamResponse:
    return _ok("User", schemas.UserSchema().dump(await users.get_user(request.app[DB], principal(request),
                                                                          _user_id(request))))


@routes.put("/api/users/{user_id:\\d+}")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def update_user(request: web.Request) -> web.StreamResponse:
    data = schemas.load(schemas.UserUpdateSchema, await json_body(request))
    user = await users.update_user(request.app[DB], request.app[REDIS], principal(request), _user_id(request), data,
                                   ip=ip_of(request))
    return _ok("User updated", schemas.UserSchema().dump(user))


@routes.delete("/api/users/{user_id:\\d+}")
@require(Permission.USER_MANAGEMENT)
@rate_limited("dashboard")
async def delete_user(request: web.Request) -> web.StreamResponse:
    await users.delete_user(request.app[DB], request.app[REDIS], principal(request), _user_id(request),
                            ip=ip_of(request))
    return _ok("User deleted")
