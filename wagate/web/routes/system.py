"""Service info and health: `GET /`, `GET|HEAD /health` (liveness) and `GET /api/health` (readiness)."""

from __future__ import annotations

from aiohttp import web

from wagate import __version__
from wagate.services.media import upkeep
from wagate.services.media.store import media_stores
from wagate.services.operations import health
from wagate.web.keys import DB, DRAINING, ENGINE, REDIS, SETTINGS, STARTED_AT

routes = web.RouteTableDef()


@routes.get("/")
async def service_info(request: web.Request) -> web.Response:
    return web.json_response({"success": True, "service": "wa-gate", "version": __version__})


@routes.get("/health")  # aiohttp answers HEAD for every GET route
async def liveness(request: web.Request) -> web.Response:
    """The process is up and serving; says nothing of its dependencies (that is /api/health)."""
    return web.json_response({"status": "ok", "version": __version__})


@routes.get("/api/health")
async def readiness(request: web.Request) -> web.Response:
    app = request.app
    media = await upkeep.store_health(app[DB], media_stores(app[SETTINGS]))
    report = await health.check(
        app[ENGINE], app[REDIS], shards=app[SETTINGS].bridge_shards, started_at=app[STARTED_AT],
        media_store=media.as_dict(),
    )
    body = report.as_dict()
    if app[DRAINING].is_set():  # stopping: a balancer checking readiness sends the next request elsewhere
        body.update(status="draining", message="this web process is stopping")
        return web.json_response(body, status=503)
    if not report.healthy:
        body["message"] = f"{', '.join(report.down)} {'is' if len(report.down) == 1 else 'are'} down"
    return web.json_response(body, status=200 if report.healthy else 503)
