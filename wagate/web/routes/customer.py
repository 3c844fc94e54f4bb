"""The customer API (`/v1/*`, seed 002): a tenant's own sessions, settings, contacts and messages by x-api-key.

Every route acts for the key's tenant only: another tenant's session is 403, an expired subscription is 403
(except `GET /v1/me`, which says that it has expired), and `max_sessions` caps `POST /v1/sessions`.
Answers are plain objects named after what they hold (`{"session": …}`, `{"sessions": […]}`), as in seed 002.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.errors import Conflict
from wagate.schemas import customer as schemas
from wagate.schemas.messages import MessageSchema, kind_fields, load_send
from wagate.services.identity import tenants
from wagate.services.messaging import contacts, sending
from wagate.services.messaging.sending import MessageFilters, SendRequest
from wagate.services.sessions import lifecycle
from wagate.services.webhooks.formats import names_wuzapi
from wagate.web.auth import principal, rate_limited, require_customer
from wagate.web.keys import DB, REDIS, SEND_INTAKE, SETTINGS
from wagate.web.replies import actor, json_body, load, multipart_parsing, query, schema_of

routes = web.RouteTableDef()
# Sessions that are not running; `auto_connect: true` on an update starts them.
IDLE = (SessionStatus.STOPPED, SessionStatus.FAILED, SessionStatus.LOGGED_OUT)


def _tenant(request: web.Request) -> int:
    tenant_id = principal(request).tenant_id
    assert tenant_id is not None  # require_customer admits tenant-bound keys only
    return tenant_id


def _session_id(request: web.Request) -> str:
    return request.match_info["session_id"]


@routes.get("/v1/me")
@require_customer(allow_expired=True)
async def me(request: web.Request) -> web.Response:
    return web.json_response(schemas.me(await tenants.get_tenant(request.app[DB], _tenant(request))))


@routes.get("/v1/sessions")
@require_customer()
async def list_sessions(request: web.Request) -> web.Response:
    rows = await lifecycle.list_sessions(request.app[DB], tenant_id=_tenant(request))
    return web.json_response({"sessions": [schemas.session(row) for row in rows], "count": len(rows)})


@routes.post("/v1/sessions")
@require_customer()
async def create_session(request: web.Request) -> web.Response:
    data = load(schemas.SessionCreateSchema, await json_body(request))
    app = request.app
    created = await lifecycle.create_session(
        app[DB], app[REDIS], app[SETTINGS], tenant_id=_tenant(request), session_id=data.get("session_id"),
        name=data["session_name"], auto_connect=data["auto_connect"], auto_read_enabled=data["auto_read_enabled"],
        typing_enabled=data["typing_enabled"], webhook_url=data.get("webhook_url"),
        webhook_events=data.get("events"), actor=actor(request),
    )
    row = created.session
    if names_wuzapi(data.get("events")):  # wuzapi's event names: the session's webhook speaks wuzapi
        row = await lifecycle.update_settings(app[DB], row.id, {"webhook_format": "wuzapi"}, settings=app[SETTINGS],
                                             tenant_id=_tenant(request), actor=actor(request))
    if options := schemas.options_of(data):
        row = await tenants.set_session_options(app[DB], row.id, options, tenant_id=_tenant(request),
                                                actor=actor(request))
    # The token authenticates /wa/* for this session; shown once, only its hash is kept.
    # genfity-wa-support's clients read the token as `session.session_token`.
    return web.json_response({"session": {**schemas.session(row), "session_token": created.token},
                              "token": created.token, "start_job_id": created.start_job_id}, status=201)


@routes.put("/v1/sessions/{session_id}")
@require_customer()
async def update_session(request: web.Request) -> web.Response:
    data = load(schemas.SessionUpdateSchema, await json_body(request))
    app, tenant_id, session_id = request.app, _tenant(request), _session_id(request)
    row = await lifecycle.update_settings(app[DB], session_id, schemas.settings_changes(data), settings=app[SETTINGS],
                                         tenant_id=tenant_id, actor=actor(request))
    if options := schemas.options_of(data):
        row = await tenants.set_session_options(app[DB], session_id, options, tenant_id=tenant_id,
                                                actor=actor(request))
    body: dict[str, Any] = {"session": schemas.session(row)}
    if data.get("auto_connect") and row.status in IDLE:
        body["start_job_id"] = await lifecycle.request(app[DB], app[REDIS], app[SETTINGS], session_id, "start",
                                                      tenant_id=tenant_id, actor=actor(request))
    return web.json_response(body)


@routes.delete("/v1/sessions/{session_id}")
@require_customer()
async def delete_session(request: web.Request) -> web.Response:
    app = request.app
    job_id = await lifecycle.delete_session(app[DB], app[REDIS], app[SETTINGS], _session_id(request),
                                           tenant_id=_tenant(request), actor=actor(request))
    return web.json_response({"deleted": True, "session_id": _session_id(request), "job_id": job_id})


@routes.get("/v1/sessions/{session_id}/settings")
@require_customer()
async def get_settings(request: web.Request) -> web.Response:
    row = await lifecycle.get_session(request.app[DB], _session_id(request), tenant_id=_tenant(request))
    return web.json_response(_settings_answer(row))


@routes.put("/v1/sessions/{session_id}/settings")
@require_customer()
async def put_settings(request: web.Request) -> web.Response:
    data = load(schemas.SessionSettingsSchema, await json_body(request))
    row = await lifecycle.update_settings(request.app[DB], _session_id(request), schemas.settings_changes(data),
                                         settings=request.app[SETTINGS], tenant_id=_tenant(request),
                                         actor=actor(request))
    return web.json_response({**_settings_answer(row), "message": "settings updated"})


def _settings_answer(row: WaSession) -> dict[str, Any]:
    """The settings, and at the top level the fields genfity-wa-support's clients read."""
    return {"session_id": row.id, "webhook_url": row.webhook_url, "message_stat_sent": row.messages_sent,
            "message_stat_failed": row.messages_failed, "settings": schemas.SettingsSchema().dump(row)}


@routes.get("/v1/sessions/{session_id}/contacts")
@require_customer()
async def list_contacts(request: web.Request) -> web.Response:
    return await contacts_answer(request, _session_id(request), _tenant(request))


@routes.post("/v1/sessions/{session_id}/contacts/sync")
@require_customer()
async def sync_contacts(request: web.Request) -> web.Response:
    app = request.app
    found = await contacts.contacts_after_sync(app[DB], app[REDIS], app[SETTINGS], _session_id(request),
                                               tenant_id=_tenant(request), actor=actor(request))
    sync = found.sync
    if sync is None or not sync.requested:  # not connected: nothing to sync with
        raise Conflict(sync.reason if sync else "the session is not connected", {"status": "not connected"})
    # `synced` (the contacts now stored) is what genfity-wa-support answers; the job is still named for polling.
    return web.json_response({"synced": len(found.items), "sync": {
        "requested": True, "job_id": sync.job_id, "completed": sync.completed, "reason": sync.reason}}, status=202)


@routes.post("/v1/sessions/{session_id}/messages")
@require_customer()
@rate_limited("send")
async def send_message(request: web.Request) -> web.Response:
    return await send_answer(request, _session_id(request), _tenant(request))


@routes.get("/v1/sessions/{session_id}/messages")
@require_customer()
async def list_messages(request: web.Request) -> web.Response:
    return await messages_answer(request, _session_id(request), _tenant(request))


# --- shared with /wa/* -------------------------------------------------------------------------------------


async def contacts_answer(request: web.Request, session_id: str, tenant_id: int | None) -> web.Response:
    """The contacts; with `?sync=true` (the default) after asking the bridge to sync, see services.contacts."""
    app = request.app
    if query(request, schemas.ContactsQuerySchema)["sync"]:
        found = await contacts.contacts_after_sync(app[DB], app[REDIS], app[SETTINGS], session_id,
                                                   tenant_id=tenant_id, actor=actor(request))
        items, sync = found.items, found.sync
    else:
        items, sync = await contacts.list_contacts(app[DB], session_id, tenant_id=tenant_id), None
    return web.json_response({
        "contacts": schemas.ContactSchema(many=True).dump(items), "count": len(items),
        "sync": None if sync is None else {"requested": sync.requested, "completed": sync.completed,
                                           "job_id": sync.job_id, "reason": sync.reason},
    })


async def send_answer(request: web.Request, session_id: str, tenant_id: int | None) -> web.Response:
    """Queue one message from a JSON body, or a multipart form whose `file` part is the media."""
    media: bytes | None = None
    file_name = content_type = None
    if request.content_type == "multipart/form-data":
        with multipart_parsing():
            form = await request.post()
        upload = form.get("file")
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if isinstance(upload, web.FileField):
            media, file_name, content_type = upload.file.read(), upload.filename, upload.content_type
    else:
        fields = await json_body(request)
    data = load_send(fields, has_media=media is not None)
    kind = data["type"] or (_media_type(content_type) if media is not None else
                            "location" if data["latitude"] is not None else "text")
    send = SendRequest(
        session_id=session_id, to=data["to"], type=kind, text=data["message"], caption=data["caption"], media=media,
        file_name=file_name, latitude=data["latitude"], longitude=data["longitude"],
        location_name=data["location_name"], address=data["address"], reply_to=data["reply_to"],
        priority=data["priority"], send_at=data["send_at"], idempotency_key=request.headers.get("Idempotency-Key"),
        **kind_fields(data),
    )
    app = request.app
    queued = await app[SEND_INTAKE].submit(send, tenant_id=tenant_id)
    return web.json_response({"message": schema_of(MessageSchema).dump(queued.message), "created": queued.created},
                             status=202 if queued.created else 200)


async def messages_answer(request: web.Request, session_id: str, tenant_id: int | None) -> web.Response:
    params = query(request, schemas.MessagesQuerySchema)
    db = request.app[DB]
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)  # 403/404 before an empty list could mislead
    async with db() as s:
        page = await sending.list_messages(s, MessageFilters(session_id=session_id, **params), tenant_id=tenant_id)
    return web.json_response({"messages": MessageSchema(many=True).dump(page.items), "page": page.page,
                              "limit": page.limit, "total": page.total})


def _media_type(content_type: str | None) -> str:
    major = (content_type or "").partition("/")[0]
    return major if major in ("image", "video", "audio") else "document"
