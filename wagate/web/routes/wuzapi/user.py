"""wuzapi's `/user/*` under `/wa`: which numbers are on WhatsApp, and the session's contacts; the profile routes
the transport has no way to answer are 501."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.errors import Invalid
from wagate.services.chats import people
from wagate.services.messaging import contacts
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor
from wagate.web.routes.wuzapi.envelope import answer, field, not_served, payload, session_id, wuzapi_route

routes = web.RouteTableDef()


def _phones(data: dict[str, Any]) -> list[str]:
    phones = field(data, "Phone")
    if phones is None or phones == []:
        raise Invalid("Missing Phone in Payload", {"Phone": ["is required"]})
    if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        raise Invalid("Phone must be a list of numbers", {"Phone": ["expects a list of strings"]})
    return phones


@routes.post("/wa/user/check")
@wuzapi_route()
async def check(request: web.Request) -> web.Response:
    phones = _phones(await payload(request))
    digits = people.checked_numbers(phones, "Phone")
    app = request.app
    found = await people.on_whatsapp(app[DB], app[REDIS], app[SETTINGS], session_id(request), digits, tenant_id=None)
    users = []
    for query, number in zip(phones, digits, strict=True):
        jid = found.get(number)
        users.append({"IsInWhatsapp": jid is not None, "JID": jid or f"{number}@s.whatsapp.net", "Query": query,
                      "VerifiedName": ""})
    return answer({"Users": users})


@routes.get("/wa/user/contacts")
@wuzapi_route()
async def user_contacts(request: web.Request) -> web.Response:
    """The contacts after a sync with the phone (when connected), keyed by JID as wuzapi answers them."""
    app = request.app
    found = await contacts.contacts_after_sync(app[DB], app[REDIS], app[SETTINGS], session_id(request),
                                               tenant_id=None, actor=actor(request))
    full = {c.jid: {"BusinessName": c.business_name or "", "FirstName": (c.name or "").split(" ")[0],
                    "Found": True, "FullName": c.name or "", "PushName": c.push_name or ""} for c in found.items}
    return answer(full)


for path, method, what, why in (
    ("/wa/user/info", "POST", "user/info (profile details)", "the transport does not fetch profiles"),
    ("/wa/user/avatar", "*", "user/avatar (profile pictures)", "the transport does not fetch profile pictures"),
    ("/wa/user/presence", "POST", "user/presence (own presence on request)",
     "the session's presence follows its connection"),
    ("/wa/user/lid", "*", "user/lid (LID lookup)", "the transport does not look LIDs up"),
):
    routes.route(method, path)(not_served(what, why))
