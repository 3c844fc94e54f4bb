"""The session's own WhatsApp account, as its connection knows it, and changing its name, about and picture."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from wagate.bridge.calls.registry import call
from wagate.errors import TransportError
from wagate.transport.base import WhatsAppTransport


@call("account")
async def account(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    linked = await transport.account(session_id)
    if linked is None:
        raise TransportError("the session is not logged in to WhatsApp")
    return dataclasses.asdict(linked)


@call("profile.update")
async def update_profile(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Change the session's own push name, about text and picture (base64 JPEG), whichever are given."""
    changed: dict[str, Any] = {}
    if params.get("push_name") is not None:
        await transport.set_push_name(session_id, str(params["push_name"]))
        changed["push_name"] = params["push_name"]
    if params.get("about") is not None:
        await transport.set_about(session_id, str(params["about"]))
        changed["about"] = params["about"]
    if params.get("picture") is not None:
        changed["picture_id"] = await transport.set_profile_picture(session_id, base64.b64decode(params["picture"]))
    return changed
