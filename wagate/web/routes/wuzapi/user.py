"""wuzapi's `/user/*` under `/wa`: which numbers are on WhatsApp, their info and pictures, the session's contacts,
its presence, and LID lookups; asked of WhatsApp through the session's connection."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.errors import Invalid, NotFound
from wagate.services.chats import people, state
from wagate.services.messaging import contacts
from wagate.services.sessions import lifecycle
from wagate.services.sessions.lifecycle import PHONE_RULE
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor
from wagate.web.routes.wuzapi.envelope import answer, field, payload, session_id, text_field, wuzapi_route

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


def _phone(data: dict[str, Any]) -> str:
    phone = text_field(data, "Phone") or ""
    if "@" not in phone and lifecycle.phone_digits(phone) is None:
        raise Invalid("Could not parse Phone", {"Phone": [PHONE_RULE]})
    return phone


@routes.post("/wa/user/info")
@wuzapi_route()
async def user_info(request: web.Request) -> web.Response:
    """wuzapi's Users by JID: devices, picture id, about text (`Status`), verified business name."""
    phones = _phones(await payload(request))
    digits = people.checked_numbers(phones, "Phone")
    app, sid = request.app, session_id(request)
    users: dict[str, Any] = {}
    for number in digits:
        found = await people.info(app[DB], app[REDIS], app[SETTINGS], sid, number, tenant_id=None)
        jid = found["jid"] if found else f"{number}@s.whatsapp.net"
        users[jid] = {"Devices": list(found["devices"]) if found else [], "PictureID": (found or {}).get(
            "picture_id") or "", "Status": (found or {}).get("about") or "", "VerifiedName": None if not found or
            not found.get("verified_name") else {"Details": {"verifiedName": found["verified_name"]}}}
    return answer({"Users": users})


async def _avatar(request: web.Request) -> web.Response:
    data = await payload(request)
    phone = _phone(data)
    app = request.app
    found = await people.picture(app[DB], app[REDIS], app[SETTINGS], session_id(request), phone,
                                 preview=field(data, "Preview") is True, tenant_id=None)
    if found is None:
        raise NotFound("No profile picture found", {"Phone": ["has no profile picture the session may see"]})
    return answer({"URL": found["url"], "ID": found["id"], "Type": found["type"], "DirectPath": ""})


# wuzapi routes it as POST; its API.md shows GET with the same body: both are answered.
routes.post("/wa/user/avatar")(wuzapi_route()(_avatar))
routes.get("/wa/user/avatar")(wuzapi_route()(_avatar))


@routes.post("/wa/user/presence")
@wuzapi_route()
async def user_presence(request: web.Request) -> web.Response:
    kind = field(await payload(request), "type")
    if kind not in ("available", "unavailable"):
        raise Invalid("Invalid presence type. Allowed values: 'available', 'unavailable'",
                      {"type": ["expects available or unavailable"]})
    app = request.app
    await state.presence(app[DB], app[REDIS], app[SETTINGS], session_id(request), kind == "available", tenant_id=None)
    return answer({"Details": "Presence set successfuly"})  # sic: wuzapi's own words


async def _lid(request: web.Request) -> web.Response:
    """The LID of `Phone`, or the phone-number JID of a LID given as `Phone` ("…@lid")."""
    phone = _phone(await payload(request))
    app = request.app
    is_lid = phone.endswith("@lid")
    found = await people.lid_lookup(app[DB], app[REDIS], app[SETTINGS], session_id(request),
                                    phone=None if is_lid else phone, lid=phone if is_lid else None, tenant_id=None)
    return answer({"Phone": found["phone"] or "", "LID": found["lid"] or ""})


routes.post("/wa/user/lid")(wuzapi_route()(_lid))
routes.get("/wa/user/lid")(wuzapi_route()(_lid))
