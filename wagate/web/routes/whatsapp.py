"""WA-Gate v2's `/api/whatsapp/*`: the status of the linked number, restart, logout; `session` optional.

The status is read from the session row the bridge writes, the same row `/api/sessions/{id}` shows, so the
two never disagree. Without `session`, the only session the caller can see is meant (v2 had one number).
Status needs `view_logs`; restart needs `send_message`; logout (unlinks the phone) needs `system`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.schemas.sessions import SessionChoiceSchema, WhatsAppStatusSchema
from wagate.services.identity.principal import Permission
from wagate.services.sessions import lifecycle
from wagate.web.auth import require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, chosen_session, json_body, load, ok, query, tenant_of

routes = web.RouteTableDef()


async def _session_choice(request: web.Request) -> str | None:
    """`session` from the query string or a JSON body (either, for v2 clients that post an empty body)."""
    values = query(request, SessionChoiceSchema)
    if request.body_exists and request.content_type == "application/json":
        body: Any = await json_body(request)
        if body is not None:
            from_body = load(SessionChoiceSchema, body)["session"]
            if from_body is not None:
                return str(from_body)
    return values["session"]


@routes.get("/api/whatsapp/status")
@require(Permission.VIEW_LOGS)
async def status(request: web.Request) -> web.Response:
    session_id = await chosen_session(request, query(request, SessionChoiceSchema)["session"])
    row = await lifecycle.get_session(request.app[DB], session_id, tenant_id=tenant_of(request))
    return ok(f"WhatsApp session is {row.status}", WhatsAppStatusSchema().dump(row))


async def _command(request: web.Request, command: str) -> web.Response:
    session_id = await chosen_session(request, await _session_choice(request))
    app = request.app
    job_id = await lifecycle.request(app[DB], app[REDIS], app[SETTINGS], session_id, command,
                                    tenant_id=tenant_of(request), actor=actor(request))
    return ok(f"{command.capitalize()} requested", {"session": session_id, "job_id": job_id}, status=202)


@routes.post("/api/whatsapp/restart")
@require(Permission.SEND_MESSAGE)
async def restart(request: web.Request) -> web.Response:
    return await _command(request, "restart")


@routes.post("/api/whatsapp/logout")
@require(Permission.SYSTEM)
async def logout(request: web.Request) -> web.Response:
    return await _command(request, "logout")
