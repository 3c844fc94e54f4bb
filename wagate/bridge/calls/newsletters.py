"""Channels (newsletters) as the session's connection sees them: those it follows, one by JID or invite, follow."""

from __future__ import annotations

import dataclasses
from typing import Any

from wagate.bridge.calls.registry import call
from wagate.transport.base import WhatsAppTransport


@call("newsletters.list")
async def followed(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(channel) for channel in await transport.newsletters(session_id)]


@call("newsletters.info")
async def info(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    channel = await transport.newsletter(session_id, jid=params.get("jid"), invite=params.get("invite"))
    return dataclasses.asdict(channel)


@call("newsletters.follow")
async def follow(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    await transport.follow_newsletter(session_id, str(params["jid"]), bool(params["follow"]))
    return {"jid": params["jid"], "following": bool(params["follow"])}
