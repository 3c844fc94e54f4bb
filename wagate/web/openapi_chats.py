"""The OpenAPI lines of the chats and contacts API (wagate.web.routes.chats, .contacts), added to
`openapi.OPERATIONS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wagate.schemas import chats as c

READ = (400, 401, 403, 404, 429)
ASK = (400, 401, 403, 404, 409, 429, 502)  # 409: the session is not WORKING; 502: WhatsApp refused or was silent


def chats_operations(op: Callable[..., Any]) -> list[Any]:
    """The lines, made with `openapi.Op` (passed in: this module is imported by that one)."""
    chat = "/api/chats/{chat}"
    contact = "/api/contacts/{chat}"
    return [
        op("GET", "/api/chats", "A session's chats, newest activity first (unread count, archived, pinned, muted)",
           "chats", permission="view_logs", query=c.ChatsQuerySchema, data=c.ChatPageSchema, errors=READ),
        op("GET", f"{chat}/messages", "A chat's messages, newest first (`{chat}`: phone number or JID)", "chats",
           permission="view_logs", query=c.ChatMessagesQuerySchema, data=c.ChatMessagePageSchema, errors=READ),
        op("POST", f"{chat}/read", "Send read receipts: the chat's unread messages, or `message_ids`", "chats",
           permission="send_message", body=c.ReadSchema, optional_body=True, data=c.ChatStateSchema, errors=ASK),
        *[op("POST", f"{chat}/{action}", f"{action.capitalize()} the chat in WhatsApp", "chats",
             permission="send_message", body=c.MuteSchema if action == "mute" else c.ChatSessionQuerySchema,
             optional_body=True, data=c.ChatStateSchema, errors=ASK)
          for action in ("archive", "unarchive", "pin", "unpin", "mute", "unmute")],
        op("POST", f"{chat}/presence", "Show typing or recording in the chat, or stop (`paused`)", "chats",
           permission="send_message", body=c.ChatPresenceSchema, data=c.ChatPresenceAnswerSchema, errors=ASK),
        op("POST", "/api/sessions/{session_id}/presence", "The session online (available) or offline", "chats",
           permission="send_message", body=c.PresenceSchema, data=c.PresenceAnswerSchema, errors=ASK),
        op("POST", "/api/contacts/check", "Which numbers are on WhatsApp, and the JID to send each to", "contacts",
           permission="view_logs", body=c.CheckSchema, data=c.CheckedSchema, many=True, errors=ASK),
        op("GET", "/api/contacts/blocklist", "The session's block list", "contacts", permission="view_logs",
           query=c.ChatSessionQuerySchema, data=c.BlocklistSchema, errors=ASK),
        op("GET", "/api/contacts/lid", "LID of a phone number (`phone`), or phone-number JID of a LID (`lid`)",
           "contacts", permission="view_logs", query=c.LidQuerySchema, data=c.LidSchema, errors=ASK),
        op("GET", contact, "A contact's about text, picture id, verified business name, devices (null: not on "
           "WhatsApp)", "contacts", permission="view_logs", query=c.ChatSessionQuerySchema, data=c.UserInfoSchema,
           maybe_none=True, errors=ASK),
        op("GET", f"{contact}/picture", "The profile picture's URL (null: none shown to the session)", "contacts",
           permission="view_logs", query=c.PictureQuerySchema, data=c.PictureSchema, maybe_none=True, errors=ASK),
        op("GET", f"{contact}/business", "The business profile (null: not a business)", "contacts",
           permission="view_logs", query=c.ChatSessionQuerySchema, data=c.BusinessSchema, maybe_none=True,
           errors=ASK),
        *[op("POST", f"{contact}/{action}", f"{action.capitalize()} the contact; the block list afterwards",
             "contacts", permission="send_message", body=c.ChatSessionQuerySchema, optional_body=True,
             data=c.BlocklistSchema, errors=ASK) for action in ("block", "unblock")],
        op("GET", "/api/sessions/{session_id}/profile", "The session's own account, about text and picture",
           "contacts", permission="view_logs", data=c.OwnProfileSchema, errors=ASK),
        op("PUT", "/api/sessions/{session_id}/profile", "Change the session's push name, about text or picture",
           "contacts", permission="system", body=c.ProfileSchema, data=c.ProfileAnswerSchema, errors=ASK),
    ]
