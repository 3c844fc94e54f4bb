"""Dashboard data: `GET /api/dashboard/stats` (live numbers) and `GET /api/dashboard/charts?range=day|week|month`.

Both need `view_logs` and pass the `dashboard` rate limit; a tenant-bound caller sees its tenant's numbers.
"""

from __future__ import annotations

from aiohttp import web

from wagate.schemas.dashboard import ChartsQuerySchema
from wagate.services.identity.principal import Permission
from wagate.services.operations import metrics
from wagate.web.auth import rate_limited, require
from wagate.web.keys import DB, REDIS, SETTINGS, STARTED_AT
from wagate.web.replies import ok, query, tenant_of

routes = web.RouteTableDef()


@routes.get("/api/dashboard/stats")
@require(Permission.VIEW_LOGS)
@rate_limited("dashboard")
async def stats(request: web.Request) -> web.Response:
    app = request.app
    async with app[DB]() as db:
        data = await metrics.stats(db, app[REDIS], app[SETTINGS], tenant_id=tenant_of(request),
                                   started_at=app[STARTED_AT])
    return ok("Dashboard stats", data)


@routes.get("/api/dashboard/charts")
@require(Permission.VIEW_LOGS)
@rate_limited("dashboard")
async def charts(request: web.Request) -> web.Response:
    values = query(request, ChartsQuerySchema)
    app = request.app
    async with app[DB]() as db:
        data = await metrics.charts(db, app[REDIS], app[SETTINGS], range_name=values["range"],
                                    tenant_id=tenant_of(request))
    return ok(f"Dashboard charts for the last {values['range']}", data)
