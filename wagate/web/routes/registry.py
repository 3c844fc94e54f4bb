"""The device registry (seed 000): `GET /admin/device-registry`, the session tokens as a JSON array.

Bearer `REGISTRY_TOKEN` or Basic `REGISTRY_USER:REGISTRY_PASS`; with neither configured the route answers 404
as if it did not exist (the seed left it open, which would hand every session token to anyone).
"""

from __future__ import annotations

from aiohttp import web

from wagate.logging import security_log
from wagate.services.sessions import registry
from wagate.web.keys import LIMITER, SETTINGS
from wagate.web.middlewares import ip_of, json_error

routes = web.RouteTableDef()


@routes.get("/admin/device-registry")
async def device_registry(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    access = registry.check_access(settings, request.headers.get("Authorization"))
    if access is registry.Access.CLOSED:
        raise web.HTTPNotFound()
    if access is registry.Access.DENIED:
        security_log().warning("device registry refused", ip=ip_of(request), path=request.path)
        await request.app[LIMITER].auth_failed(ip_of(request))  # a guessed token counts towards the IP ban
        return json_error(401, "Unauthorized", headers={"WWW-Authenticate": 'Basic realm="device-registry"'})
    return web.json_response(await registry.read(settings))
