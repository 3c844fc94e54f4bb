"""Calls about the people behind numbers: who is on WhatsApp, their info, picture and business profile, the block
list, and LID ↔ phone-number lookups."""

from __future__ import annotations

import dataclasses
from typing import Any

from wagate.bridge.calls.registry import call
from wagate.transport.base import WhatsAppTransport


@call("contacts.on_whatsapp")
async def on_whatsapp(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, str | None]:
    """Each number → the JID WhatsApp answered for it (send there), or None when it is not on WhatsApp."""
    return await transport.on_whatsapp(session_id, [str(p) for p in params["phones"]])


@call("contacts.info")
async def info(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    found = await transport.user_info(session_id, [str(j) for j in params["jids"]])
    return {jid: dataclasses.asdict(user) for jid, user in found.items()}


@call("contacts.picture")
async def picture(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any] | None:
    found = await transport.profile_picture(session_id, str(params["jid"]), preview=bool(params.get("preview")))
    return None if found is None else dataclasses.asdict(found)


@call("contacts.business")
async def business(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any] | None:
    found = await transport.business_profile(session_id, str(params["jid"]))
    return None if found is None else dataclasses.asdict(found)


@call("contacts.blocklist")
async def blocklist(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> list[str]:
    return await transport.blocklist(session_id)


@call("contacts.block")
async def block(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> list[str]:
    return await transport.set_blocked(session_id, str(params["jid"]), bool(params["blocked"]))


@call("contacts.lid")
async def lid(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, str | None]:
    """Both ways: `{"phone": jid}` finds its LID, `{"lid": lid}` its phone-number JID."""
    if params.get("phone"):
        phone = str(params["phone"])
        return {"phone": phone, "lid": await transport.lid_of(session_id, phone)}
    lid_jid = str(params["lid"])
    return {"phone": await transport.phone_of(session_id, lid_jid), "lid": lid_jid}
