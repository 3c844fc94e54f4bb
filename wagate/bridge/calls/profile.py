"""The session's own WhatsApp account, as its connection knows it."""

from __future__ import annotations

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
