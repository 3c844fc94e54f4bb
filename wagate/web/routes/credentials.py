"""Session credentials (`/sessions/*`, seed 004): who is linked to each session, in the seed's exact envelope.

`Authorization: Bearer <API key>` (or a dashboard login) with the view permission; a tenant's key sees its own
sessions, an install-wide key every session. Lists answer `{success, message, data, count}`, single sessions
`{success, message, data}`; the fields and the status mapping are in wagate/schemas/credentials.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.db.models_whatsapp import WaSession
from wagate.errors import NotFound
from wagate.schemas.credentials import BasicSessionSchema, CredentialsSessionSchema, StatusSchema, status_view
from wagate.services.identity.principal import Permission
from wagate.services.sessions import lifecycle
from wagate.web.auth import principal, rate_limited, require
from wagate.web.keys import DB, REDIS

routes = web.RouteTableDef()


def _list(message: str, rows: list[WaSession], schema: BasicSessionSchema) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": schema.dump(rows, many=True),
                              "count": len(rows)})


def _one(message: str, data: Any) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data})


async def _rows(request: web.Request, which: str) -> list[WaSession]:
    rows = await lifecycle.list_sessions(request.app[DB], tenant_id=principal(request).tenant_id)
    if which == "active":
        return [row for row in rows if status_view(row.status).is_active]
    if which == "connected":
        return [row for row in rows if status_view(row.status).is_authenticated]
    return rows


async def _session(request: web.Request) -> WaSession:
    try:
        return await lifecycle.get_session(request.app[DB], request.match_info["session_id"],
                                          tenant_id=principal(request).tenant_id)
    except NotFound as exc:
        raise NotFound("Session not found") from exc  # the seed's exact message


@routes.get("/sessions")
@require(Permission.VIEW_LOGS)
async def active_sessions(request: web.Request) -> web.Response:
    return _list("Active sessions retrieved successfully", await _rows(request, "active"), BasicSessionSchema())


@routes.get("/sessions/connected")
@require(Permission.VIEW_LOGS)
async def connected_sessions(request: web.Request) -> web.Response:
    return _list("Connected sessions retrieved successfully", await _rows(request, "connected"),
                 BasicSessionSchema())


@routes.get("/sessions/connected/credentials")
@require(Permission.VIEW_LOGS)
async def connected_credentials(request: web.Request) -> web.Response:
    return _list("Connected sessions with credentials retrieved successfully", await _rows(request, "connected"),
                 CredentialsSessionSchema())


@routes.get("/sessions/all")
@require(Permission.VIEW_LOGS)
async def all_sessions(request: web.Request) -> web.Response:
    return _list("All sessions retrieved successfully", await _rows(request, "all"), BasicSessionSchema())


@routes.get("/sessions/all/credentials")
@require(Permission.VIEW_LOGS)
async def all_credentials(request: web.Request) -> web.Response:
    return _list("All sessions with credentials retrieved successfully", await _rows(request, "all"),
                 CredentialsSessionSchema())


@routes.get("/sessions/{session_id}")
@require(Permission.VIEW_LOGS)
async def one_session(request: web.Request) -> web.Response:
    return _one("Session retrieved successfully", BasicSessionSchema().dump(await _session(request)))


@routes.get("/sessions/{session_id}/credentials")
@require(Permission.VIEW_LOGS)
async def one_credentials(request: web.Request) -> web.Response:
    return _one("Session credentials retrieved successfully", CredentialsSessionSchema().dump(await _session(request)))


@routes.get("/sessions/{session_id}/status")
@require(Permission.VIEW_LOGS)
async def session_status(request: web.Request) -> web.Response:
    return _one("Session status retrieved successfully", StatusSchema().dump(await _session(request)))


@routes.get("/sessions/{session_id}/qr")
@require(Permission.VIEW_LOGS)
@rate_limited("qr")
async def session_qr(request: web.Request) -> web.Response:
    """The QR code to scan now; `qr` is null when there is none (linked, stopped, or between two codes)."""
    row = await _session(request)
    qr = await lifecycle.current_qr(request.app[REDIS], row.id)
    view = status_view(row.status)
    return _one("QR code retrieved successfully" if qr else "No QR code is waiting to be scanned", {
        "sessionId": row.id, "qr": qr["code"] if qr else None, "expiresAt": qr.get("expires_at") if qr else None,
        "status": view.status, "connectionStatus": view.connection_status,
    })
