"""Calls on a session's chats: read receipts, archive, pin, mute, and the typing / recording / online presence."""

from __future__ import annotations

from typing import Any

from wagate.bridge.calls.registry import call
from wagate.errors import TransportError
from wagate.transport.base import WhatsAppTransport


@call("chat.read")
async def read(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """Read receipts for the given messages (grouped by sender, as WhatsApp takes them), then the chat's unread
    mark in the app state, so the phone's badge goes too."""
    chat = str(params["chat"])
    by_sender: dict[str, list[str]] = {}
    for item in params.get("messages") or []:
        by_sender.setdefault(str(item["sender"]), []).append(str(item["id"]))
    for sender, ids in by_sender.items():
        await transport.mark_read(session_id, chat, sender, ids)
    badge = None
    if params.get("whole_chat"):
        try:
            await transport.mark_chat_read(session_id, chat)
            badge = "cleared"
        except TransportError as exc:  # the receipts went out: that is the read; the phone's badge is extra
            badge = exc.message
    return {"chat": chat, "receipts": sum(len(ids) for ids in by_sender.values()), "badge": badge}


@call("chat.archive")
async def archive(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    await transport.archive_chat(session_id, str(params["chat"]), bool(params["archived"]))
    return {"chat": params["chat"], "archived": bool(params["archived"])}


@call("chat.pin")
async def pin(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    await transport.pin_chat(session_id, str(params["chat"]), bool(params["pinned"]))
    return {"chat": params["chat"], "pinned": bool(params["pinned"])}


@call("chat.mute")
async def mute(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    until = params.get("until")
    await transport.mute_chat(session_id, str(params["chat"]), bool(params["muted"]),
                              None if until is None else float(until))
    return {"chat": params["chat"], "muted": bool(params["muted"]), "until": until}


@call("chat.presence")
async def chat_presence(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    await transport.send_chat_presence(session_id, str(params["chat"]), params["state"])
    return {"chat": params["chat"], "state": params["state"]}


@call("presence")
async def presence(transport: WhatsAppTransport, session_id: str, params: dict[str, Any]) -> dict[str, Any]:
    await transport.set_presence(session_id, bool(params["available"]))
    return {"available": bool(params["available"])}
