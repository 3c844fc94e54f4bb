"""The QR code that links a phone: `GET /api/qr?session=` and `GET /api/qr/{session}` (JSON or `?format=png`).

The bridge writes the live code to Redis (`wagate.queue.names.qr_key`) with the code's lifetime; this route
reads it and renders it with segno. A session that is not waiting for a scan answers with its status and
why: 409 when it is linked or not started (no code will come), 404 while it is starting (one will shortly).
Needs `send_message`, as scanning the code links a phone to the gateway, and passes the `qr` rate limit.
"""

from __future__ import annotations

import io
from typing import Any

import segno
from aiohttp import web

from wagate.db.enums import SessionStatus
from wagate.errors import Conflict, NotFound
from wagate.schemas.sessions import QrSchema, SessionChoiceSchema
from wagate.services.identity.principal import Permission
from wagate.services.sessions import lifecycle
from wagate.web.auth import rate_limited, require
from wagate.web.keys import DB, REDIS
from wagate.web.replies import chosen_session, ok, query, tenant_of

routes = web.RouteTableDef()

# Pixels per module: a WhatsApp code (version ~10, 57 modules + border) comes out near 500 px, easy to scan.
SCALE = 8
WAITING = (SessionStatus.STARTING, SessionStatus.SCAN_QR_CODE)
WHY_NOT: dict[str, str] = {
    SessionStatus.WORKING: "The session is linked and WORKING: there is no QR code to scan",
    SessionStatus.STOPPED: "The session is STOPPED: start it to get a QR code",
    SessionStatus.LOGGED_OUT: "The session is LOGGED_OUT: start it again to get a new QR code",
    SessionStatus.FAILED: "The session FAILED: restart it to get a QR code",
}


def _png_bytes(code: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(code, error="l", micro=False).save(buffer, kind="png", scale=SCALE, border=4)
    return buffer.getvalue()


async def _qr(request: web.Request, session_id: str | None) -> web.StreamResponse:
    values = query(request, SessionChoiceSchema)
    session_id = await chosen_session(request, session_id or values["session"], purpose=" whose QR code to show")
    row = await lifecycle.get_session(request.app[DB], session_id, tenant_id=tenant_of(request))
    status = SessionStatus(row.status)
    live = await lifecycle.current_qr(request.app[REDIS], session_id) if status in WAITING else None
    if live is None:
        details: dict[str, Any] = {"session": session_id, "status": status.value}
        if status in WAITING:
            raise NotFound(f"No QR code yet: the session is {status.value}; try again in a few seconds", details)
        raise Conflict(WHY_NOT.get(status, f"The session is {status.value}"), details)
    code = str(live["code"])
    headers = {"Cache-Control": "no-store"}  # a code links a phone: never keep it in a cache
    if values["format"] == "png":
        return web.Response(body=_png_bytes(code), content_type="image/png", headers=headers)
    image = segno.make(code, error="l", micro=False).png_data_uri(scale=SCALE, border=4)
    data = QrSchema().dump({"session": session_id, "status": status.value, "qr": code,
                            "expires_at": live.get("expires_at"), "image": image})
    return ok("Scan the QR code with WhatsApp on the phone: Linked devices → Link a device", data, headers=headers)


@routes.get("/api/qr")
@require(Permission.SEND_MESSAGE)
@rate_limited("qr")
async def qr_by_query(request: web.Request) -> web.StreamResponse:
    return await _qr(request, None)


@routes.get("/api/qr/{session_id}")
@require(Permission.SEND_MESSAGE)
@rate_limited("qr")
async def qr_by_path(request: web.Request) -> web.StreamResponse:
    return await _qr(request, request.match_info["session_id"])
