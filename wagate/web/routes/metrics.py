"""`GET /metrics`: Prometheus text format for the whole host, to an admin credential or an allowed address.

An address in METRICS_ALLOW_IPS (CIDRs, matched against the client address the trusted-proxy logic computed, so a
forged X-Forwarded-For does not get in) may scrape without credentials; anyone else needs the `system` permission
(an admin API key or dashboard token), like the rest of the admin API. The figures are the whole install's, so
an admin bound to a tenant is refused (403, logged): they cannot be narrowed to one tenant.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from wagate.errors import Forbidden
from wagate.observability import scrape
from wagate.services.identity.principal import Permission
from wagate.web.auth import principal, require
from wagate.web.keys import ENGINE, REDIS, SETTINGS
from wagate.web.middlewares import CLIENT_IP

routes = web.RouteTableDef()


def address_allowed(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


async def _exposition(request: web.Request) -> web.Response:
    app = request.app
    state = await scrape.shared_state(app[ENGINE], app[REDIS], app[SETTINGS].bridge_shards)
    return web.Response(body=scrape.exposition(state), headers={"Content-Type": scrape.CONTENT_TYPE})


async def _install_wide(request: web.Request) -> web.Response:
    if principal(request).tenant_id is not None:
        raise Forbidden("The metrics are the whole install's: a caller bound to a tenant cannot read them")
    return await _exposition(request)


_as_admin = require(Permission.SYSTEM)(_install_wide)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.StreamResponse:
    if address_allowed(request.get(CLIENT_IP, ""), request.app[SETTINGS].metrics_allow_ips):
        return await _exposition(request)
    return await _as_admin(request)
