"""Statuses (stories) and channels (newsletters) of a session.

    GET    /api/sessions/{id}/statuses                       view_logs     contacts' statuses received, newest first
    POST   /api/sessions/{id}/statuses                       send_message  202: a status queued (text, image, video)
    GET    /api/sessions/{id}/newsletters                    view_logs     channels followed or owned
    GET    /api/sessions/{id}/newsletters/info?jid=|invite=  view_logs     one channel
    PUT    /api/sessions/{id}/newsletters/{jid}/follow       send_message  follow
    DELETE /api/sessions/{id}/newsletters/{jid}/follow       send_message  unfollow

A message to a channel the session owns is an ordinary send to the channel's JID (`/api/messages/send`).
"""

from __future__ import annotations

from aiohttp import web

from wagate.db.enums import SessionStatus
from wagate.errors import Conflict, Invalid
from wagate.schemas.channels import NewsletterQuerySchema, StatusPostSchema, StatusQuerySchema
from wagate.schemas.messages import MessageSchema
from wagate.services.channels import newsletters, statuses
from wagate.services.identity.principal import Permission
from wagate.services.messaging import media_fetch
from wagate.services.sessions import lifecycle
from wagate.web.auth import rate_limited, require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, dump, json_body, load, ok, query, tenant_of

routes = web.RouteTableDef()
SESSION = "/api/sessions/{session_id}"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@routes.get(SESSION + "/statuses")
@require(Permission.VIEW_LOGS)
async def list_statuses(request: web.Request) -> web.Response:
    values = query(request, StatusQuerySchema)
    rows = await statuses.received(request.app[DB], request.match_info["session_id"], tenant_id=tenant_of(request),
                                   limit=values["limit"])
    return ok(f"{len(rows)} status(es)", MessageSchema(many=True).dump(rows))


@routes.post(SESSION + "/statuses")
@require(Permission.SEND_MESSAGE)
@rate_limited("send")
async def post_status(request: web.Request) -> web.Response:
    values = load(StatusPostSchema, await json_body(request))
    app, session_id, tenant_id = request.app, request.match_info["session_id"], tenant_of(request)
    row = await lifecycle.get_session(app[DB], session_id, tenant_id=tenant_id)
    if row.status != SessionStatus.WORKING:
        raise Conflict(f"Session is {row.status}, not WORKING: connect it to post", {"status": str(row.status)})
    fetched = None
    if values["type"] != "text":
        if not values["media"]:
            raise Invalid("Invalid status", {"media": [f"a {values['type']} status needs its media: URL or data: URI"]})
        fetched = await media_fetch.media_of(values["media"], app[SETTINGS], "media")
    queued = await statuses.post(
        app[DB], app[REDIS], app[SETTINGS], session_id, kind=values["type"], text=values["text"],
        caption=values["caption"], media=fetched.data if fetched else None,
        file_name=values["file_name"] or (fetched.file_name if fetched else None),
        background_color=values["background_color"], font_name=values["font"],
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER), tenant_id=tenant_id)
    return ok("Status queued", dump(MessageSchema, queued.message), status=202)


@routes.get(SESSION + "/newsletters")
@require(Permission.VIEW_LOGS)
async def list_newsletters(request: web.Request) -> web.Response:
    app = request.app
    items = await newsletters.followed(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"],
                                       tenant_id=tenant_of(request))
    return ok(f"{len(items)} channel(s)", items)


@routes.get(SESSION + "/newsletters/info")
@require(Permission.VIEW_LOGS)
async def newsletter_info(request: web.Request) -> web.Response:
    values = query(request, NewsletterQuerySchema)
    if (values["jid"] is None) == (values["invite"] is None):
        raise Invalid("Name one channel", {"jid": ["give jid or invite, not both"]})
    app = request.app
    item = await newsletters.info(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"],
                                  tenant_id=tenant_of(request), jid=values["jid"], invite=values["invite"])
    return ok("Channel", item)


async def _follow(request: web.Request, following: bool) -> web.Response:
    app = request.app
    answer = await newsletters.follow(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"],
                                      request.match_info["jid"], following, tenant_id=tenant_of(request),
                                      actor=actor(request))
    return ok("Channel followed" if following else "Channel unfollowed", answer)


@routes.put(SESSION + "/newsletters/{jid}/follow")
@require(Permission.SEND_MESSAGE)
async def follow(request: web.Request) -> web.Response:
    return await _follow(request, True)


@routes.delete(SESSION + "/newsletters/{jid}/follow")
@require(Permission.SEND_MESSAGE)
async def unfollow(request: web.Request) -> web.Response:
    return await _follow(request, False)
