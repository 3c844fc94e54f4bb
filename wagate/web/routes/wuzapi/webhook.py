"""wuzapi's `/webhook` under `/wa`: the session's own webhook (its settings' URL and events), in wuzapi's names.

A webhook set here receives wuzapi's body (`{"type": "Message", "event": {…}}`), through the same durable, signed,
retried delivery as every webhook: it is the session settings webhook of `services.webhooks.fanout`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.errors import Invalid
from wagate.services.sessions import lifecycle
from wagate.services.webhooks.formats import gateway_events, wuzapi_names
from wagate.web.keys import DB, SETTINGS
from wagate.web.replies import actor
from wagate.web.routes.wuzapi.envelope import answer, field, payload, session_id, wuzapi_route

routes = web.RouteTableDef()


def _events(data: dict[str, Any]) -> list[str] | None:
    """The gateway events of the body's `events` (None: not given); an empty or all-unknown list means All, as in
    wuzapi."""
    given = field(data, "events")
    if given is None:
        return None
    if not isinstance(given, list) or not all(isinstance(e, str) for e in given):
        raise Invalid("events must be a list of event types", {"events": ["expects a list of strings"]})
    return gateway_events(given) or ["*"]


async def _save(request: web.Request, changes: dict[str, Any]) -> Any:
    changes = {**changes, "webhook_format": "wuzapi"}
    return await lifecycle.update_settings(request.app[DB], session_id(request), changes,
                                           settings=request.app[SETTINGS], actor=actor(request))


@routes.get("/wa/webhook")
@wuzapi_route()
async def get_webhook(request: web.Request) -> web.Response:
    row = await lifecycle.get_session(request.app[DB], session_id(request))
    return answer({"webhook": row.webhook_url or "", "subscribe": wuzapi_names(row.webhook_events)})


@routes.post("/wa/webhook")
@wuzapi_route()
async def set_webhook(request: web.Request) -> web.Response:
    data = await payload(request)
    changes: dict[str, Any] = {"webhook_url": field(data, "webhookURL")}
    if (events := _events(data)) is not None:
        changes["webhook_events"] = events
    row = await _save(request, changes)
    return answer({"webhook": row.webhook_url or ""})


@routes.put("/wa/webhook")
@wuzapi_route()
async def update_webhook(request: web.Request) -> web.Response:
    data = await payload(request)
    active = field(data, "active", False)
    if not isinstance(active, bool):
        raise Invalid("active must be true or false", {"active": ["expects a boolean"]})
    events = _events(data)
    # As wuzapi: `"active": false` (or leaving it out) clears the webhook and its events.
    changes: dict[str, Any] = {"webhook_url": field(data, "webhook") if active else None}
    if not active:
        changes["webhook_events"] = None
    elif events is not None:
        changes["webhook_events"] = events
    row = await _save(request, changes)
    return answer({"webhook": row.webhook_url or "", "events": field(data, "events") or [], "active": active})


@routes.delete("/wa/webhook")
@wuzapi_route()
async def delete_webhook(request: web.Request) -> web.Response:
    await _save(request, {"webhook_url": None, "webhook_events": None})
    return answer({"Details": "Webhook and events deleted successfully"})
