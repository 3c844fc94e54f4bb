"""The OpenAPI document of every route the gateway serves: `GET /api/openapi.json` (public)."""

from __future__ import annotations

from aiohttp import web

from wagate.web import openapi

routes = web.RouteTableDef()


@routes.get("/api/openapi.json")
async def spec(request: web.Request) -> web.Response:
    return web.json_response(openapi.document(request.app), headers={"Cache-Control": "no-cache"})
