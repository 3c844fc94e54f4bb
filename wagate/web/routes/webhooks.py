"""Webhooks API under /api/webhooks (admin: Permission.WEBHOOKS): CRUD, secret rotation, deliveries, redelivery, test.

The secret is in the answer of create and of `POST /api/webhooks/{id}/secret` only. Every change is audited by
the service. A caller bound to a tenant sees only that tenant's webhooks.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.schemas import webhooks as schemas
from wagate.services.identity.principal import Permission
from wagate.services.webhooks import endpoints
from wagate.web.auth import principal, require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.middlewares import ip_of
from wagate.web.replies import json_body

routes = web.RouteTableDef()


def ok(message: str, data: Any = None, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data}, status=status)


def _caller(request: web.Request) -> endpoints.Caller:
    who = principal(request)
    return endpoints.Caller(who, scope_tenant=who.tenant_id, ip=ip_of(request))  # behind a proxy: the client


def _id(request: web.Request, name: str = "webhook_id") -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound() from None


@routes.get("/api/webhooks")
@require(Permission.WEBHOOKS)
async def list_webhooks(request: web.Request) -> web.Response:
    found = await endpoints.list_webhooks(request.app[DB], _caller(request))
    return ok("Webhooks", [endpoints.as_dict(w) for w in found])


@routes.post("/api/webhooks")
@require(Permission.WEBHOOKS)
async def create_webhook(request: web.Request) -> web.Response:
    data = schemas.load(schemas.WebhookCreateSchema, await json_body(request, empty={}))
    webhook, secret = await endpoints.create_webhook(request.app[DB], request.app[SETTINGS], _caller(request), data)
    return ok("Webhook created; the secret is shown only now", {**endpoints.as_dict(webhook), "secret": secret}, 201)


@routes.get(r"/api/webhooks/{webhook_id:\d+}")
@require(Permission.WEBHOOKS)
async def get_webhook(request: web.Request) -> web.Response:
    webhook = await endpoints.get_webhook(request.app[DB], _caller(request), _id(request))
    return ok("Webhook", endpoints.as_dict(webhook))


@routes.put(r"/api/webhooks/{webhook_id:\d+}")
@require(Permission.WEBHOOKS)
async def update_webhook(request: web.Request) -> web.Response:
    changes = schemas.load(schemas.WebhookUpdateSchema, await json_body(request, empty={}))
    webhook = await endpoints.update_webhook(request.app[DB], request.app[SETTINGS], _caller(request), _id(request),
                                            changes)
    return ok("Webhook updated", endpoints.as_dict(webhook))


@routes.delete(r"/api/webhooks/{webhook_id:\d+}")
@require(Permission.WEBHOOKS)
async def delete_webhook(request: web.Request) -> web.Response:
    await endpoints.delete_webhook(request.app[DB], _caller(request), _id(request))
    return ok("Webhook deleted")


@routes.post(r"/api/webhooks/{webhook_id:\d+}/secret")
@require(Permission.WEBHOOKS)
async def rotate_secret(request: web.Request) -> web.Response:
    secret = await endpoints.rotate_secret(request.app[DB], request.app[SETTINGS], _caller(request), _id(request))
    return ok("Secret rotated; the new secret is shown only now", {"id": _id(request), "secret": secret})


@routes.get(r"/api/webhooks/{webhook_id:\d+}/deliveries")
@require(Permission.WEBHOOKS)
async def list_deliveries(request: web.Request) -> web.Response:
    query = schemas.load(schemas.DeliveriesQuery, dict(request.query))
    rows, total = await endpoints.list_deliveries(request.app[DB], _caller(request), _id(request), **query)
    return ok("Deliveries", {"items": [endpoints.delivery_dict(d) for d in rows], "total": total,
                             "page": query["page"], "per_page": query["per_page"]})


@routes.get(r"/api/webhooks/deliveries/{delivery_id:\d+}")
@require(Permission.WEBHOOKS)
async def get_delivery(request: web.Request) -> web.Response:
    delivery = await endpoints.get_delivery(request.app[DB], _caller(request), _id(request, "delivery_id"))
    return ok("Delivery", endpoints.delivery_dict(delivery, attempts=True))


@routes.post(r"/api/webhooks/deliveries/{delivery_id:\d+}/redeliver")
@require(Permission.WEBHOOKS)
async def redeliver(request: web.Request) -> web.Response:
    delivery = await endpoints.redeliver(request.app[DB], request.app[REDIS], _caller(request),
                                        _id(request, "delivery_id"))
    return ok("Redelivery queued", endpoints.delivery_dict(delivery), 202)


@routes.post(r"/api/webhooks/{webhook_id:\d+}/redeliver")
@require(Permission.WEBHOOKS)
async def redeliver_all(request: web.Request) -> web.Response:
    status = schemas.load(schemas.RedeliverQuery, dict(request.query))["status"]
    count = await endpoints.redeliver_all(request.app[DB], request.app[REDIS], _caller(request), _id(request), status)
    return ok(f"{count} deliveries queued again", {"count": count}, 202)


@routes.post(r"/api/webhooks/{webhook_id:\d+}/test")
@require(Permission.WEBHOOKS)
async def send_test(request: web.Request) -> web.Response:
    delivery = await endpoints.send_test(request.app[DB], request.app[REDIS], _caller(request), _id(request))
    return ok("Test event queued", endpoints.delivery_dict(delivery), 202)
