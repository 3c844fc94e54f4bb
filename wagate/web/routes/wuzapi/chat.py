"""wuzapi's `/chat/*` under `/wa`: sends of text, image, audio, document, video and location, and what is not
served yet (501, naming the capability).

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
from wagate.services.messaging.media_fetch import media_of
from wagate.services.messaging.sending import SendRequest
from wagate.transport.base import new_message_id
from wagate.web.keys import SEND_INTAKE, SETTINGS
from wagate.web.routes.wuzapi.envelope import answer, field, not_served, payload, session_id, text_field, wuzapi_route

routes = web.RouteTableDef()

# wuzapi route → (message type, the field holding the media)
MEDIA_ROUTES = {"image": (MessageType.IMAGE, "Image"), "audio": (MessageType.AUDIO, "Audio"),
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


async def _queue(request: web.Request, data: dict[str, Any], **fields: Any) -> web.Response:
    given_id = text_field(data, "Id", required=False)
    send = SendRequest(session_id=session_id(request), to=text_field(data, "Phone") or "", reply_to=_reply_to(data),
                       message_id=given_id or new_message_id(), idempotency_key=given_id, **fields)
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
    return await _queue(request, data, type=MessageType.TEXT, text=text_field(data, "Body"))


def _media_route(route: str) -> None:
    kind, name = MEDIA_ROUTES[route]

    async def send_media(request: web.Request) -> web.Response:
        data = await payload(request)
        text_field(data, "Phone")
        media = await media_of(text_field(data, name) or "", request.app[SETTINGS], name)
        file_name = text_field(data, "FileName", required=kind == MessageType.DOCUMENT) or media.file_name
        return await _queue(request, data, type=kind, media=media.data, file_name=file_name,
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
    return await _queue(request, data, type=MessageType.LOCATION, latitude=field(data, "Latitude"),
                        longitude=field(data, "Longitude"), location_name=text_field(data, "Name", required=False))


_NO_TYPE = "the gateway's messages are text, image, video, audio, document and location"
_KEPT = ("the gateway downloads received media itself: fetch one at GET /api/media/{message id}, or by the signed "
         "link in the message.received webhook's media.url")
for path, what, why in (
    ("/wa/chat/send/sticker", "chat/send/sticker (sticker messages)", _NO_TYPE),
    ("/wa/chat/send/contact", "chat/send/contact (contact cards)", _NO_TYPE),
    ("/wa/chat/send/poll", "chat/send/poll (polls)", _NO_TYPE),
    ("/wa/chat/send/edit", "chat/send/edit (editing a sent message)", "messages cannot be edited after sending"),
    ("/wa/chat/send/template", "chat/send/template (template buttons)", _NO_TYPE),
    ("/wa/chat/send/buttons", "chat/send/buttons (buttons)", _NO_TYPE),
    ("/wa/chat/send/list", "chat/send/list (lists)", _NO_TYPE),
    ("/wa/chat/delete", "chat/delete (revoking a message)", "messages cannot be revoked"),
    ("/wa/chat/react", "chat/react (reactions)", "reactions cannot be sent"),
    ("/wa/chat/markread", "chat/markread (read receipts on request)",
     "messages are marked read by the session's auto_read setting only"),
    ("/wa/chat/presence", "chat/presence (typing indicator on request)",
     "typing is shown by the session's typing setting only"),
    ("/wa/chat/history", "chat/history (chat history from WhatsApp)",
     "history is not synced; the gateway's messages are at GET /wa/messages"),
    *((f"/wa/chat/download{kind}", f"chat/download{kind} (media download by WhatsApp's keys)", _KEPT)
      for kind in ("image", "video", "audio", "document")),
):
    routes.route("*", path)(not_served(what, why))
