"""wuzapi's `/session/*` under `/wa`: connect, disconnect, logout, status, QR, pairing by phone, proxy, history.

The session is the token's; the commands go to its bridge as every other route's do (`services.sessions`), so a
session connected here is the one the dashboard, `/v1` and `/api` see.
"""

from __future__ import annotations

import segno
from aiohttp import web

from wagate.db.enums import SessionStatus
from wagate.errors import Conflict, Invalid
from wagate.services.sessions import connecting, lifecycle, proxy
from wagate.services.webhooks.formats import gateway_events, wuzapi_names
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor
from wagate.web.routes.wuzapi.envelope import answer, field, not_served, payload, session_id, text_field, wuzapi_route

routes = web.RouteTableDef()
CONNECT_WAIT_S = 10.0  # wuzapi's wait when `Immediate` is false
QR_SCALE = 5


def _events_string(events: list[str] | None) -> str:
    return ",".join(wuzapi_names(events))


@routes.post("/wa/session/connect")
@wuzapi_route()
async def connect(request: web.Request) -> web.Response:
    data = await payload(request, optional=True)
    subscribe, immediate = field(data, "Subscribe"), field(data, "Immediate", True)
    if subscribe is not None and not (isinstance(subscribe, list) and all(isinstance(e, str) for e in subscribe)):
        raise Invalid("Subscribe must be a list of event types", {"Subscribe": ["expects a list of strings"]})
    if not isinstance(immediate, bool):
        raise Invalid("Immediate must be true or false", {"Immediate": ["expects a boolean"]})
    app, sid = request.app, session_id(request)
    await connecting.check_can_connect(app[DB], sid)
    # As wuzapi: the subscription is set on connect (none given: every event), and the webhook speaks wuzapi.
    events = gateway_events(subscribe or ["All"]) or ["*"]
    await lifecycle.update_settings(app[DB], sid, {"webhook_events": events, "webhook_format": "wuzapi"},
                                   settings=app[SETTINGS], actor=actor(request))
    await connecting.connect(app[DB], app[REDIS], app[SETTINGS], sid, actor=actor(request))
    row = await lifecycle.get_session(app[DB], sid)
    if not immediate:
        row = await connecting.wait_answered(app[DB], sid, CONNECT_WAIT_S)
        if row.status not in connecting.ANSWERED:
            raise Conflict("Failed to Connect", {"status": str(row.status), "reason": row.status_reason})
    return answer({"details": "Connected!", "events": _events_string(row.webhook_events), "jid": row.jid or "",
                   "webhook": row.webhook_url or ""})


async def _logged_in_command(request: web.Request, command: str, refusal: str, done: str) -> web.Response:
    """A command wuzapi allows only on a logged-in session (`refusal` otherwise, its words)."""
    app, sid = request.app, session_id(request)
    row = await lifecycle.get_session(app[DB], sid)
    if row.status != SessionStatus.WORKING:
        raise Conflict(refusal, {"status": str(row.status)})
    await lifecycle.request(app[DB], app[REDIS], app[SETTINGS], sid, command, actor=actor(request))
    return answer({"Details": done})


@routes.post("/wa/session/disconnect")
@wuzapi_route()
async def disconnect(request: web.Request) -> web.Response:
    return await _logged_in_command(request, "stop", "Cannot disconnect because it is not logged in", "Disconnected")


@routes.post("/wa/session/logout")
@wuzapi_route()
async def logout(request: web.Request) -> web.Response:
    return await _logged_in_command(request, "logout", "Could not logout as it was not logged in", "Logged out")


@routes.get("/wa/session/status")
@wuzapi_route()
async def status(request: web.Request) -> web.Response:
    row = await lifecycle.get_session(request.app[DB], session_id(request))
    return answer({"Connected": row.status in connecting.ANSWERED, "LoggedIn": row.status == SessionStatus.WORKING,
                   "Jid": row.jid or "", "Status": str(row.status)})


@routes.get("/wa/session/qr")
@wuzapi_route(limit="qr")
async def qr(request: web.Request) -> web.Response:
    app, sid = request.app, session_id(request)
    row = await lifecycle.get_session(app[DB], sid)
    if row.status == SessionStatus.WORKING:
        raise Conflict("Already Loggedin", {"status": str(row.status)})
    if row.status not in connecting.RUNNING:
        raise Conflict("Not connected: call /session/connect first", {"status": str(row.status)})
    code = await lifecycle.current_qr(app[REDIS], sid)
    # Empty while WhatsApp has not sent the first code yet, as wuzapi answers then.
    image = segno.make(code["code"], error="l", micro=False).png_data_uri(scale=QR_SCALE, border=4) if code else ""
    return answer({"QRCode": image})


@routes.post("/wa/session/pairphone")
@wuzapi_route()
async def pair_phone(request: web.Request) -> web.Response:
    data = await payload(request)
    phone = text_field(data, "Phone")
    app, sid = request.app, session_id(request)
    row = await lifecycle.get_session(app[DB], sid)
    if row.status == SessionStatus.WORKING:
        raise Invalid("Already paired", {"status": str(row.status)})
    job_id = await lifecycle.request(app[DB], app[REDIS], app[SETTINGS], sid, "pair_phone", actor=actor(request),
                                    params={"phone": phone})
    code = await connecting.command_result(app[REDIS], app[SETTINGS], sid, job_id)
    return answer({"LinkingCode": code})




@routes.post("/wa/session/proxy")
@wuzapi_route()
async def set_proxy(request: web.Request) -> web.Response:
    """wuzapi's `{"proxy_url", "enable"}`; where wuzapi refuses while connected, the session restarts through it."""
    data = await payload(request)
    enable = field(data, "enable")
    if not isinstance(enable, bool):
        raise Invalid("enable must be true or false", {"enable": ["expects a boolean"]})
    url = text_field(data, "proxy_url") if enable else None
    app = request.app
    shown = await proxy.set_proxy(app[DB], app[REDIS], app[SETTINGS], session_id(request), url, tenant_id=None,
                                  actor=actor(request))
    if shown is None:
        return answer({"Details": "Proxy disabled successfully"})
    return answer({"Details": "Proxy configured successfully", "ProxyURL": shown})


routes.get("/wa/session/history")(not_served(
    "session/history", "history is not requested on demand; what the phone sends at link time is stored (setting "
    "history_sync) with received messages at GET /wa/messages"))
