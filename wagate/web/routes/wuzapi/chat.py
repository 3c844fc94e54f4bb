"""wuzapi's `/chat/*` under `/wa`: sends of text, image, audio, document, video and location (the other kinds are
in `chat_kinds`), and what is not served yet (501, naming the capability).

A send is the gateway's own: validated, written `queued` and sent by the session's bridge under its pacing, with
the same idempotency and statistics as `/api/messages/send`. wuzapi's `Id` is the WhatsApp message id to send
under and the idempotency key too (the same `Id` twice is one message); without one, the gateway picks the id,
so the answer's `Id` is always the id WhatsApp, receipts and replies will use. wuzapi answers once WhatsApp took
the message; the gateway answers once the send is queued: `Details` is "Queued", and the webhook (or
GET /wa/messages) tells when it is sent, delivered and read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from wagate.db.enums import MessageType
from wagate.errors import Invalid
from wagate.services.chats import state
from wagate.services.messaging.media_fetch import media_of
from wagate.services.messaging.sending import SendRequest
from wagate.transport.base import new_message_id
from wagate.web.keys import DB, REDIS, SEND_INTAKE, SETTINGS
from wagate.web.replies import actor
from wagate.web.routes.wuzapi.envelope import answer, field, not_served, payload, session_id, text_field, wuzapi_route

routes = web.RouteTableDef()

# wuzapi route → (message type, the field holding the media)
# wuzapi sends `Audio` as a voice note (PTT), as WhatsApp's own recorder does: so does the gateway.
MEDIA_ROUTES = {"image": (MessageType.IMAGE, "Image"), "audio": ("voice", "Audio"),
                "document": (MessageType.DOCUMENT, "Document"), "video": (MessageType.VIDEO, "Video")}


def _reply_to(data: dict[str, Any]) -> str | None:
    context = field(data, "ContextInfo")
    if context is None:
        return None
    if not isinstance(context, dict):
        raise Invalid("ContextInfo must be an object", {"ContextInfo": ["expects an object"]})
    stanza = {str(k).lower(): v for k, v in context.items()}.get("stanzaid")
    if stanza is not None and not isinstance(stanza, str):
        raise Invalid("ContextInfo.StanzaId must be a string", {"ContextInfo": ["StanzaId expects a string"]})
    return stanza or None


async def queue_send(request: web.Request, data: dict[str, Any], *, own_id: bool = True, to: str | None = None,
                     **fields: Any) -> web.Response:
    """Queue a send from wuzapi's body; `own_id` False: `Id` names another message (a reaction's, an edit's)."""
    given_id = text_field(data, "Id", required=False) if own_id else None
    send = SendRequest(session_id=session_id(request), to=to or text_field(data, "Phone") or "",
                       reply_to=_reply_to(data), message_id=given_id or new_message_id(), idempotency_key=given_id,
                       **fields)
    queued = await request.app[SEND_INTAKE].submit(send)
    message = queued.message
    return answer({"Details": "Queued" if queued.created else "Already queued", "Id": message.wa_message_id,
                   "Timestamp": message.created_at.astimezone(UTC).isoformat() if message.created_at
                   else datetime.now(UTC).isoformat(), "MessageId": message.id, "Status": str(message.status)})


@routes.post("/wa/chat/send/text")
@wuzapi_route(limit="send")
async def send_text(request: web.Request) -> web.Response:
    data = await payload(request)
    text_field(data, "Phone")
    return await queue_send(request, data, type=MessageType.TEXT, text=text_field(data, "Body"))


def _media_route(route: str) -> None:
    kind, name = MEDIA_ROUTES[route]

    async def send_media(request: web.Request) -> web.Response:
        data = await payload(request)
        text_field(data, "Phone")
        media = await media_of(text_field(data, name) or "", request.app[SETTINGS], name)
        file_name = text_field(data, "FileName", required=kind == MessageType.DOCUMENT) or media.file_name
        return await queue_send(request, data, type=kind, media=media.data, file_name=file_name,
                            caption=text_field(data, "Caption", required=False))

    send_media.__name__ = f"send_{route}"
    send_media.__doc__ = f"Queue {kind} message from `{name}` (a data URI or an http(s) URL)."
    routes.post(f"/wa/chat/send/{route}")(wuzapi_route(limit="send")(send_media))


for _route in MEDIA_ROUTES:
    _media_route(_route)


@routes.post("/wa/chat/send/location")
@wuzapi_route(limit="send")
async def send_location(request: web.Request) -> web.Response:
    data = await payload(request)
    text_field(data, "Phone")
    for name in ("Latitude", "Longitude"):
        if field(data, name) is None:
            raise Invalid(f"Missing {name} in Payload", {name: ["is required"]})
    return await queue_send(request, data, type=MessageType.LOCATION, latitude=field(data, "Latitude"),
                        longitude=field(data, "Longitude"), location_name=text_field(data, "Name", required=False))


_NO_TYPE = "the gateway does not send WhatsApp Business templates, buttons or lists"
_KEPT = ("the gateway downloads received media itself: fetch one at GET /api/media/{message id}, or by the signed "
         "link in the message.received webhook's media.url")
for path, what, why in (
    ("/wa/chat/send/template", "chat/send/template (template buttons)", _NO_TYPE),
    ("/wa/chat/send/buttons", "chat/send/buttons (buttons)", _NO_TYPE),
    ("/wa/chat/send/list", "chat/send/list (lists)", _NO_TYPE),
    ("/wa/chat/history", "chat/history (chat history from WhatsApp)",
     "history is not requested on demand; the history the phone sends at link time is stored (setting "
     "history_sync) with the gateway's messages at GET /wa/messages"),
    *((f"/wa/chat/download{kind}", f"chat/download{kind} (media download by WhatsApp's keys)", _KEPT)
      for kind in ("image", "video", "audio", "document")),
):
    routes.route("*", path)(not_served(what, why))


@routes.post("/wa/chat/markread")
@wuzapi_route()
async def markread(request: web.Request) -> web.Response:
    """Read receipts for `Id` (a list of message ids) in `Chat`; `Sender` in a group: who sent them."""
    data = await payload(request)
    chat = text_field(data, "Chat") or ""
    ids = field(data, "Id")
    if not ids:
        raise Invalid("Missing Id in Payload", {"Id": ["is required"]})
    if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids) or len(ids) > 500:
        raise Invalid("Id must be a list of message ids", {"Id": ["expects 1 to 500 strings"]})
    app = request.app
    await state.read_receipts(app[DB], app[REDIS], app[SETTINGS], session_id(request), chat, ids,
                              text_field(data, "Sender", required=False), actor=actor(request))
    return answer({"Details": "Message(s) marked as read"})


@routes.post("/wa/chat/presence")
@wuzapi_route()
async def chat_presence(request: web.Request) -> web.Response:
    """`State` composing or paused; `Media` "audio" turns composing into recording."""
    data = await payload(request)
    phone = text_field(data, "Phone") or ""
    kind = text_field(data, "State")
    if kind not in ("composing", "paused"):
        raise Invalid("Invalid State: composing or paused", {"State": ["expects composing or paused"]})
    shown = "paused" if kind == "paused" else "recording" if field(data, "Media") == "audio" else "typing"
    app = request.app
    await state.chat_presence(app[DB], app[REDIS], app[SETTINGS], session_id(request), phone, shown, tenant_id=None)
    return answer({"Details": "Chat presence set successfuly"})  # sic: wuzapi's own words
