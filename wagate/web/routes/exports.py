"""Event exports API under /api/exports (admin: Permission.WEBHOOKS, as webhooks): brokers that receive events.

Each answer shows the broker URL without its password, and the export's live status: whether its broker takes
events, how many wait and how old the oldest is. Every change is audited by the service. A caller bound to a
tenant sees and makes only that tenant's exports.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.schemas import exports as schemas
from wagate.schemas.webhooks import load
from wagate.services.exports import endpoints
from wagate.services.identity.principal import Permission
from wagate.services.webhooks.endpoints import Caller
from wagate.web.auth import principal, require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.middlewares import ip_of
from wagate.web.replies import json_body

routes = web.RouteTableDef()


def ok(message: str, data: Any = None, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data}, status=status)


def _caller(request: web.Request) -> Caller:
    who = principal(request)
    return Caller(who, scope_tenant=who.tenant_id, ip=ip_of(request))


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["export_id"])
    except ValueError:
        raise web.HTTPNotFound() from None


async def _shown(request: web.Request, *exports: Any) -> list[dict[str, Any]]:
    status = await endpoints.statuses(request.app[REDIS])
    return [endpoints.as_dict(e, status.get(e.id)) for e in exports]


@routes.get("/api/exports")
@require(Permission.WEBHOOKS)
async def list_exports(request: web.Request) -> web.Response:
    found = await endpoints.list_exports(request.app[DB], _caller(request))
    return ok("Event exports", await _shown(request, *found))


@routes.post("/api/exports")
@require(Permission.WEBHOOKS)
async def create_export(request: web.Request) -> web.Response:
    data = load(schemas.ExportCreateSchema, await json_body(request, empty={}))
    export = await endpoints.create_export(request.app[DB], request.app[REDIS], request.app[SETTINGS],
                                           _caller(request), data)
    return ok("Event export created", (await _shown(request, export))[0], 201)


@routes.get(r"/api/exports/{export_id:\d+}")
@require(Permission.WEBHOOKS)
async def get_export(request: web.Request) -> web.Response:
    export = await endpoints.get_export(request.app[DB], _caller(request), _id(request))
    return ok("Event export", (await _shown(request, export))[0])


@routes.put(r"/api/exports/{export_id:\d+}")
@require(Permission.WEBHOOKS)
async def update_export(request: web.Request) -> web.Response:
    changes = load(schemas.ExportUpdateSchema, await json_body(request, empty={}))
    export = await endpoints.update_export(request.app[DB], request.app[REDIS], request.app[SETTINGS],
                                           _caller(request), _id(request), changes)
    return ok("Event export updated", (await _shown(request, export))[0])


@routes.delete(r"/api/exports/{export_id:\d+}")
@require(Permission.WEBHOOKS)
async def delete_export(request: web.Request) -> web.Response:
    await endpoints.delete_export(request.app[DB], request.app[REDIS], _caller(request), _id(request))
    return ok("Event export deleted")
