"""The session-bound API (`/wa/*`, seed 001): one session's status, QR, sends, messages and contacts.

Authenticated by the session's own token (the `token` header, `Authorization: Bearer` or `?token=`, in wuzapi's
order) of a session whose subscription is live; the token names the session, so no route takes a session id.
wuzapi's own routes under `/wa` are in `wagate.web.routes.wuzapi`. Every call counts against RATE_LIMIT_SESSION,
the send against the send limit and the QR against the QR limit too, all per session. `/wa/admin*` does not exist
for any caller (the seed blocks it). Answers are the plain objects of the customer API (`/v1/*`), from the same
code.
"""

from __future__ import annotations

from aiohttp import web

from wagate.schemas import customer as schemas
from wagate.schemas.credentials import status_view
from wagate.services.sessions import lifecycle
from wagate.web.auth import principal, rate_limited, require_session_token
from wagate.web.keys import DB, REDIS
from wagate.web.routes.customer import contacts_answer, messages_answer, send_answer

routes = web.RouteTableDef()


def _session_id(request: web.Request) -> str:
    session_id = principal(request).session_id
    assert session_id is not None  # require_session_token sets it
    return session_id


@routes.route("*", "/wa/admin")
@routes.route("*", "/wa/admin{tail:.*}")
async def blocked(request: web.Request) -> web.Response:
    """Registered before every other /wa route, and answered before any authentication."""
    raise web.HTTPNotFound()


@routes.get("/wa/status")
@require_session_token()
async def status(request: web.Request) -> web.Response:
    row = await lifecycle.get_session(request.app[DB], _session_id(request))
    view = status_view(row.status)
    return web.json_response({"session": {**schemas.session(row), "connection_status": view.connection_status,
                                          "is_active": view.is_active}})


@routes.get("/wa/qr")
@require_session_token()
@rate_limited("qr")
async def qr(request: web.Request) -> web.Response:
    row = await lifecycle.get_session(request.app[DB], _session_id(request))
    code = await lifecycle.current_qr(request.app[REDIS], row.id)
    return web.json_response({"session_id": row.id, "status": str(row.status), "qr": code["code"] if code else None,
                              "expires_at": code.get("expires_at") if code else None})


@routes.post("/wa/send")
@require_session_token()
@rate_limited("send")
async def send(request: web.Request) -> web.Response:
    return await send_answer(request, _session_id(request), None)


@routes.get("/wa/messages")
@require_session_token()
async def messages(request: web.Request) -> web.Response:
    return await messages_answer(request, _session_id(request), None)


@routes.get("/wa/contacts")
@require_session_token()
async def contacts(request: web.Request) -> web.Response:
    return await contacts_answer(request, _session_id(request), None)
