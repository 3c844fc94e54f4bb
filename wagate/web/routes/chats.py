"""The chats API: a session's chats and their messages, and changing a chat through WhatsApp.

    GET  /api/chats?session_id=…                     view_logs     newest activity first, paged by cursor
    GET  /api/chats/{chat}/messages?session_id=…     view_logs     newest first, paged by cursor
    POST /api/chats/{chat}/read                      send_message  read receipts (all unread, or message_ids)
    POST /api/chats/{chat}/archive|unarchive         send_message
    POST /api/chats/{chat}/pin|unpin                 send_message
    POST /api/chats/{chat}/mute|unmute               send_message  mute until a time, or for ever
    POST /api/chats/{chat}/presence                  send_message  typing / recording / paused
    POST /api/sessions/{session_id}/presence         send_message  the session online or offline

`{chat}` is a phone number or a JID. Users read; operators act (as they send). A change is made in WhatsApp first
(through the session's bridge: 409 when the session is not WORKING, 502 when WhatsApp refused), then written,
audited and told as `chat.updated`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.db.enums import SessionStatus
from wagate.schemas.chats import (
    ChatMessagePageSchema,
    ChatMessagesQuerySchema,
    ChatPageSchema,
    ChatPresenceAnswerSchema,
    ChatPresenceSchema,
    ChatSessionQuerySchema,
    ChatsQuerySchema,
    ChatStateSchema,
    MuteSchema,
    PresenceAnswerSchema,
    PresenceSchema,
    ReadSchema,
)
from wagate.services.chats import listing, state
from wagate.services.identity.principal import Permission
from wagate.web.auth import require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, chosen_session, json_body, load, ok, query, tenant_of

routes = web.RouteTableDef()
CHAT = "/api/chats/{chat}"
ACTIONS = {"archive": {"archived": True}, "unarchive": {"archived": False}, "pin": {"pinned": True},
           "unpin": {"pinned": False}, "unmute": {"muted": False}}


def _chat(request: web.Request) -> str:
    return request.match_info["chat"]


@routes.get("/api/chats")
@require(Permission.VIEW_LOGS)
async def list_chats(request: web.Request) -> web.Response:
    values = query(request, ChatsQuerySchema)
    sid = await chosen_session(request, values["session_id"])
    page = await listing.list_chats(request.app[DB], sid, tenant_id=tenant_of(request), archived=values["archived"],
                                    limit=values["limit"], cursor=values["cursor"])
    return ok(f"{len(page.items)} chat(s)", ChatPageSchema().dump(page))


@routes.get(CHAT + "/messages")
@require(Permission.VIEW_LOGS)
async def chat_messages(request: web.Request) -> web.Response:
    values = query(request, ChatMessagesQuerySchema)
    sid = await chosen_session(request, values["session_id"])
    chat = state.chat_jid(_chat(request), request.app[SETTINGS])
    page = await listing.chat_messages(request.app[DB], sid, chat, tenant_id=tenant_of(request),
                                       limit=values["limit"], cursor=values["cursor"])
    return ok(f"{len(page.items)} message(s)", ChatMessagePageSchema().dump(page))


async def _body(request: web.Request, schema: Any) -> tuple[dict[str, Any], str]:
    values = load(schema, await json_body(request, empty={}))
    sid = await chosen_session(request, values["session_id"], status=SessionStatus.WORKING, purpose=" of the chat")
    return values, sid


@routes.post(CHAT + "/read")
@require(Permission.SEND_MESSAGE)
async def read(request: web.Request) -> web.Response:
    values, sid = await _body(request, ReadSchema)
    app = request.app
    row = await state.mark_read(app[DB], app[REDIS], app[SETTINGS], sid, _chat(request), tenant_id=tenant_of(request),
                                actor=actor(request), message_ids=values["message_ids"])
    return ok("Chat read", ChatStateSchema().dump(row))


def _state_route(action: str) -> None:
    change = ACTIONS.get(action)

    async def handler(request: web.Request) -> web.Response:
        values, sid = await _body(request, MuteSchema if action == "mute" else ChatSessionQuerySchema)
        fields: dict[str, Any] = change or {"muted": True, "muted_until": values["until"]}
        app = request.app
        row = await state.change(app[DB], app[REDIS], app[SETTINGS], sid, _chat(request),
                                 tenant_id=tenant_of(request), actor=actor(request), **fields)
        return ok(f"Chat {action}d" if action.endswith("e") else f"Chat {action}ned", ChatStateSchema().dump(row))

    handler.__name__ = f"chat_{action}"
    handler.__doc__ = f"{action.capitalize()} the chat in WhatsApp."
    routes.post(f"{CHAT}/{action}")(require(Permission.SEND_MESSAGE)(handler))


for _action in ("archive", "unarchive", "pin", "unpin", "mute", "unmute"):
    _state_route(_action)


@routes.post(CHAT + "/presence")
@require(Permission.SEND_MESSAGE)
async def chat_presence(request: web.Request) -> web.Response:
    values, sid = await _body(request, ChatPresenceSchema)
    app = request.app
    answer = await state.chat_presence(app[DB], app[REDIS], app[SETTINGS], sid, _chat(request), values["state"],
                                       tenant_id=tenant_of(request))
    return ok("Presence shown", ChatPresenceAnswerSchema().dump(answer))


@routes.post("/api/sessions/{session_id}/presence")
@require(Permission.SEND_MESSAGE)
async def presence(request: web.Request) -> web.Response:
    values = load(PresenceSchema, await json_body(request))
    app = request.app
    answer = await state.presence(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"],
                                  values["available"], tenant_id=tenant_of(request))
    return ok("Online" if values["available"] else "Offline", PresenceAnswerSchema().dump(answer))
