"""The dashboard's session API: list, create, read, delete, start/stop/restart/logout, pair, settings, token.

    GET    /api/sessions                        view_logs
    POST   /api/sessions                        system        201, the session token shown once
    GET    /api/sessions/{id}                   view_logs
    DELETE /api/sessions/{id}                   system
    POST   /api/sessions/{id}/start|stop|restart send_message  202, a bridge job
    POST   /api/sessions/{id}/logout            system        202: unlinks the phone, a new scan is needed
    POST   /api/sessions/{id}/pair              send_message  202: pairing code for {"phone"}
    GET    /api/sessions/{id}/settings          view_logs
    PUT    /api/sessions/{id}/settings          system
    POST   /api/sessions/{id}/token             system        a new session token, shown once

Operators run the numbers (start, stop, restart, pair) as they send from them; unlinking a phone, creating
and deleting sessions, their webhook settings and tokens are the admin's. A tenant-bound caller reaches only
its tenant's sessions (404 for another tenant's, as for a missing one).
"""

from __future__ import annotations

from aiohttp import web

from wagate.errors import Forbidden
from wagate.schemas.sessions import CreateSessionSchema, PairSchema, SessionQuerySchema, SessionSchema, SettingsSchema
from wagate.services.identity.principal import Permission
from wagate.services.operations import metrics
from wagate.services.sessions import lifecycle
from wagate.web.auth import require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, caller, json_body, load, ok, query, tenant_of

routes = web.RouteTableDef()
SESSION = "/api/sessions/{session_id}"


def _dump(request: web.Request, row: lifecycle.WaSession) -> dict[str, object]:
    schema = SessionSchema(full_webhook_url=caller(request).can(Permission.WEBHOOKS))
    return schema.dump(row)


@routes.get("/api/sessions")
@require(Permission.VIEW_LOGS)
async def list_sessions(request: web.Request) -> web.Response:
    values = query(request, SessionQuerySchema)
    rows = await lifecycle.list_sessions(request.app[DB], tenant_id=tenant_of(request), status=values["status"])
    async with request.app[DB]() as db:
        sent = await metrics.sent_today_by_session(db, request.app[SETTINGS], session_ids=[row.id for row in rows])
    return ok(f"{len(rows)} session(s)", [{**_dump(request, row), "sent_today": sent.get(row.id, 0)} for row in rows])


@routes.post("/api/sessions")
@require(Permission.SYSTEM)
async def create_session(request: web.Request) -> web.Response:
    values = load(CreateSessionSchema, await json_body(request))
    tenant_id = tenant_of(request)
    if tenant_id is not None and values["tenant_id"] not in (None, tenant_id):
        raise Forbidden("A tenant's key creates sessions for its own tenant only", {"tenant_id": ["is not yours"]})
    app = request.app
    created = await lifecycle.create_session(
        app[DB], app[REDIS], app[SETTINGS], tenant_id=tenant_id if tenant_id is not None else values["tenant_id"],
        session_id=values["session_id"], name=values["name"], auto_connect=values["auto_connect"],
        auto_read_enabled=values["auto_read_enabled"], typing_enabled=values["typing_enabled"],
        webhook_url=values["webhook_url"], webhook_events=values["webhook_events"],
        history_sync=values["history_sync"], actor=actor(request),
    )
    data = {"session": _dump(request, created.session), "token": created.token, "start_job_id": created.start_job_id}
    return ok("Session created; keep the token now, it is not shown again", data, status=201)


@routes.get(SESSION)
@require(Permission.VIEW_LOGS)
async def get_session(request: web.Request) -> web.Response:
    row = await lifecycle.get_session(request.app[DB], request.match_info["session_id"], tenant_id=tenant_of(request))
    return ok("Session", _dump(request, row))


@routes.delete(SESSION)
@require(Permission.SYSTEM)
async def delete_session(request: web.Request) -> web.Response:
    app = request.app
    session_id = request.match_info["session_id"]
    job_id = await lifecycle.delete_session(app[DB], app[REDIS], app[SETTINGS], session_id,
                                           tenant_id=tenant_of(request), actor=actor(request))
    return ok("Session deleted; its bridge logs the device out", {"session": session_id, "job_id": job_id})


async def _command(request: web.Request, command: str, params: dict[str, str] | None = None) -> web.Response:
    app = request.app
    session_id = request.match_info["session_id"]
    job_id = await lifecycle.request(app[DB], app[REDIS], app[SETTINGS], session_id, command,
                                    tenant_id=tenant_of(request), actor=actor(request), params=params)
    return ok(f"{command.replace('_', ' ').capitalize()} requested", {"session": session_id, "job_id": job_id},
              status=202)


@routes.post(SESSION + "/start")
@require(Permission.SEND_MESSAGE)
async def start(request: web.Request) -> web.Response:
    return await _command(request, "start")


@routes.post(SESSION + "/stop")
@require(Permission.SEND_MESSAGE)
async def stop(request: web.Request) -> web.Response:
    return await _command(request, "stop")


@routes.post(SESSION + "/restart")
@require(Permission.SEND_MESSAGE)
async def restart(request: web.Request) -> web.Response:
    return await _command(request, "restart")


@routes.post(SESSION + "/logout")
@require(Permission.SYSTEM)
async def logout(request: web.Request) -> web.Response:
    return await _command(request, "logout")


@routes.post(SESSION + "/pair")
@require(Permission.SEND_MESSAGE)
async def pair(request: web.Request) -> web.Response:
    values = load(PairSchema, await json_body(request))
    return await _command(request, "pair_phone", {"phone": values["phone"]})


@routes.get(SESSION + "/settings")
@require(Permission.VIEW_LOGS)
async def get_settings(request: web.Request) -> web.Response:
    row = await lifecycle.get_session(request.app[DB], request.match_info["session_id"], tenant_id=tenant_of(request))
    return ok("Session settings", _dump(request, row)["settings"])


@routes.put(SESSION + "/settings")
@require(Permission.SYSTEM)
async def put_settings(request: web.Request) -> web.Response:
    changes = load(SettingsSchema, await json_body(request))
    row = await lifecycle.update_settings(request.app[DB], request.match_info["session_id"], changes,
                                         settings=request.app[SETTINGS], tenant_id=tenant_of(request),
                                         actor=actor(request))
    return ok("Session settings saved", _dump(request, row)["settings"])


@routes.post(SESSION + "/token")
@require(Permission.SYSTEM)
async def rotate_token(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    token = await lifecycle.rotate_token(request.app[DB], session_id, tenant_id=tenant_of(request),
                                        actor=actor(request), settings=request.app[SETTINGS])
    return ok("New session token; the old one no longer works", {"session": session_id, "token": token})
