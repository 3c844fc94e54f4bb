"""The contacts and profile API: asked of WhatsApp through the session's connection.

    POST /api/contacts/check                         view_logs     which numbers are on WhatsApp, and their JIDs
    GET  /api/contacts/blocklist?session_id=…        view_logs
    GET  /api/contacts/lid?session_id=…&phone|lid=…  view_logs     LID ↔ phone number
    GET  /api/contacts/{chat}?session_id=…           view_logs     about text, picture id, business name, devices
    GET  /api/contacts/{chat}/picture?session_id=…   view_logs     the profile picture's URL (null: none shown)
    GET  /api/contacts/{chat}/business?session_id=…  view_logs     the business profile (null: not a business)
    POST /api/contacts/{chat}/block|unblock          send_message  the block list afterwards
    GET  /api/sessions/{session_id}/profile          view_logs     the session's own account, about and picture
    PUT  /api/sessions/{session_id}/profile          system        change its push name, about text, picture

409 when the session is not WORKING; 502 when WhatsApp refused or did not answer in time.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from wagate.db.enums import SessionStatus
from wagate.errors import Invalid
from wagate.schemas.chats import (
    BlocklistSchema,
    BusinessSchema,
    ChatSessionQuerySchema,
    CheckedSchema,
    CheckSchema,
    LidQuerySchema,
    LidSchema,
    OwnProfileSchema,
    PictureQuerySchema,
    PictureSchema,
    ProfileAnswerSchema,
    ProfileSchema,
    UserInfoSchema,
)
from wagate.services.chats import people
from wagate.services.identity.principal import Permission
from wagate.services.sessions import calls, lifecycle
from wagate.web.auth import require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, chosen_session, json_body, load, ok, query, tenant_of

routes = web.RouteTableDef()
CONTACT = "/api/contacts/{chat}"
WORKING = SessionStatus.WORKING


async def _session(request: web.Request, values: dict[str, Any]) -> str:
    return await chosen_session(request, values["session_id"], status=WORKING, purpose=" to ask WhatsApp through")


@routes.post("/api/contacts/check")
@require(Permission.VIEW_LOGS)
async def check(request: web.Request) -> web.Response:
    values = load(CheckSchema, await json_body(request))
    sid = await _session(request, values)
    phones = people.checked_numbers(values["phones"])
    app = request.app
    found = await people.on_whatsapp(app[DB], app[REDIS], app[SETTINGS], sid, phones, tenant_id=tenant_of(request))
    items = [{"phone": p, "on_whatsapp": found.get(p) is not None, "jid": found.get(p)} for p in phones]
    on = sum(1 for i in items if i["on_whatsapp"])
    return ok(f"{on} of {len(items)} number(s) on WhatsApp", CheckedSchema(many=True).dump(items))


@routes.get("/api/contacts/blocklist")
@require(Permission.VIEW_LOGS)
async def blocklist(request: web.Request) -> web.Response:
    sid = await _session(request, query(request, ChatSessionQuerySchema))
    app = request.app
    found = await people.blocklist(app[DB], app[REDIS], app[SETTINGS], sid, tenant_id=tenant_of(request))
    return ok(f"{len(found)} blocked", BlocklistSchema().dump({"blocked": found}))


@routes.get("/api/contacts/lid")
@require(Permission.VIEW_LOGS)
async def lid(request: web.Request) -> web.Response:
    values = query(request, LidQuerySchema)
    sid = await _session(request, values)
    app = request.app
    found = await people.lid_lookup(app[DB], app[REDIS], app[SETTINGS], sid, phone=values["phone"], lid=values["lid"],
                                    tenant_id=tenant_of(request))
    known = found["phone"] is not None and found["lid"] is not None
    return ok("Found" if known else "WhatsApp does not know this one yet", LidSchema().dump(found))


@routes.get(CONTACT)
@require(Permission.VIEW_LOGS)
async def info(request: web.Request) -> web.Response:
    sid = await _session(request, query(request, ChatSessionQuerySchema))
    app = request.app
    found = await people.info(app[DB], app[REDIS], app[SETTINGS], sid, request.match_info["chat"],
                              tenant_id=tenant_of(request))
    return ok("Contact" if found else "Not on WhatsApp", found and UserInfoSchema().dump(found))


@routes.get(CONTACT + "/picture")
@require(Permission.VIEW_LOGS)
async def picture(request: web.Request) -> web.Response:
    values = query(request, PictureQuerySchema)
    sid = await _session(request, values)
    app = request.app
    found = await people.picture(app[DB], app[REDIS], app[SETTINGS], sid, request.match_info["chat"],
                                 preview=values["preview"], tenant_id=tenant_of(request))
    return ok("Profile picture" if found else "No profile picture shown", found and PictureSchema().dump(found))


@routes.get(CONTACT + "/business")
@require(Permission.VIEW_LOGS)
async def business(request: web.Request) -> web.Response:
    sid = await _session(request, query(request, ChatSessionQuerySchema))
    app = request.app
    found = await people.business(app[DB], app[REDIS], app[SETTINGS], sid, request.match_info["chat"],
                                  tenant_id=tenant_of(request))
    return ok("Business profile" if found else "Not a business", found and BusinessSchema().dump(found))


def _block_route(blocked: bool) -> None:
    async def handler(request: web.Request) -> web.Response:
        sid = await _session(request, load(ChatSessionQuerySchema, await json_body(request, empty={})))
        app = request.app
        found = await people.set_blocked(app[DB], app[REDIS], app[SETTINGS], sid, request.match_info["chat"], blocked,
                                         tenant_id=tenant_of(request), actor=actor(request))
        return ok("Blocked" if blocked else "Unblocked", BlocklistSchema().dump({"blocked": found}))

    handler.__name__ = "block" if blocked else "unblock"
    routes.post(f"{CONTACT}/{handler.__name__}")(require(Permission.SEND_MESSAGE)(handler))


_block_route(True)
_block_route(False)


@routes.get("/api/sessions/{session_id}/profile")
@require(Permission.VIEW_LOGS)
async def own_profile(request: web.Request) -> web.Response:
    app, sid, tenant_id = request.app, request.match_info["session_id"], tenant_of(request)
    await lifecycle.get_session(app[DB], sid, tenant_id=tenant_id)
    account = await calls.call(app[DB], app[REDIS], app[SETTINGS], sid, "account")
    about = await people.info(app[DB], app[REDIS], app[SETTINGS], sid, account["phone"], tenant_id=tenant_id) or {}
    picture = await people.picture(app[DB], app[REDIS], app[SETTINGS], sid, account["phone"], preview=False,
                                   tenant_id=tenant_id)
    return ok("Profile", OwnProfileSchema().dump({**account, "about": about.get("about"), "picture": picture}))


@routes.put("/api/sessions/{session_id}/profile")
@require(Permission.SYSTEM)
async def update_profile(request: web.Request) -> web.Response:
    values = load(ProfileSchema, await json_body(request))
    picture = None
    if values["picture"] is not None:
        try:
            picture = base64.b64decode(values["picture"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Invalid("Invalid picture", {"picture": ["expects base64"]}) from exc
    app = request.app
    changed = await people.update_profile(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"],
                                          tenant_id=tenant_of(request), actor=actor(request),
                                          push_name=values["push_name"], about=values["about"], picture=picture)
    return ok("Profile changed", ProfileAnswerSchema().dump(changed))
