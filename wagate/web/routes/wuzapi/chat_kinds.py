"""wuzapi's sends of the other kinds under `/wa/chat`: sticker, contact card, poll, edit, delete (revoke for
everyone) and react, with wuzapi's field names, queued like every other send (see `chat`).

For an edit, delete or reaction, wuzapi's `Id` names the message acted on (a reaction's `me:` prefix, which
wuzapi needs to tell its own messages apart, is accepted and dropped: the gateway knows which are its own), so the
gateway picks the id the change itself goes under.
"""

from __future__ import annotations

from aiohttp import web

from wagate.errors import Invalid
from wagate.services.messaging.media_fetch import media_of
from wagate.web.keys import SETTINGS
from wagate.web.routes.wuzapi.chat import queue_send
from wagate.web.routes.wuzapi.envelope import field, payload, text_field, wuzapi_route

routes = web.RouteTableDef()


@routes.post("/wa/chat/send/sticker")
@wuzapi_route(limit="send")
async def send_sticker(request: web.Request) -> web.Response:
    """`Sticker`: a data URI or URL of a WebP, PNG or JPEG image (made a 512×512 WebP)."""
    data = await payload(request)
    text_field(data, "Phone")
    media = await media_of(text_field(data, "Sticker") or "", request.app[SETTINGS], "Sticker")
    return await queue_send(request, data, type="sticker", media=media.data)


@routes.post("/wa/chat/send/contact")
@wuzapi_route(limit="send")
async def send_contact(request: web.Request) -> web.Response:
    data = await payload(request)
    text_field(data, "Phone")
    card = {"name": text_field(data, "Name"), "vcard": text_field(data, "Vcard")}
    return await queue_send(request, data, type="contact", contacts=[card])


@routes.post("/wa/chat/send/poll")
@wuzapi_route(limit="send")
async def send_poll(request: web.Request) -> web.Response:
    """wuzapi's poll: `Group` (or `Phone`), `Header` the question, `Options`; one choice per voter, as wuzapi's."""
    data = await payload(request)
    to = text_field(data, "Group", required=False) or text_field(data, "Phone", required=False)
    if to is None:
        raise Invalid("Missing Group in Payload", {"Group": ["is required"]})
    options = field(data, "Options")
    if not isinstance(options, list) or len(options) < 2:
        raise Invalid("at least 2 options are required", {"Options": ["needs 2 to 12 options"]})
    return await queue_send(request, data, to=to, type="poll", question=text_field(data, "Header"), options=options,
                            selectable=1)


@routes.post("/wa/chat/send/edit")
@wuzapi_route(limit="send")
async def send_edit(request: web.Request) -> web.Response:
    """`Id` of a text this session sent within WhatsApp's 15 minutes, `Body` its new text."""
    data = await payload(request)
    text_field(data, "Phone")
    return await queue_send(request, data, own_id=False, type="edit", target=text_field(data, "Id"),
                            text=text_field(data, "Body"))


@routes.post("/wa/chat/delete")
@wuzapi_route(limit="send")
async def delete_message(request: web.Request) -> web.Response:
    """Delete for everyone the message `Id` of the chat `Phone`."""
    data = await payload(request)
    text_field(data, "Phone")
    return await queue_send(request, data, own_id=False, type="revoke", target=text_field(data, "Id"))


@routes.post("/wa/chat/react")
@wuzapi_route(limit="send")
async def react(request: web.Request) -> web.Response:
    """`Body` the emoji ("" takes the reaction back), `Id` the message (`me:<id>` for the session's own)."""
    data = await payload(request)
    text_field(data, "Phone")
    emoji = field(data, "Body")
    if not isinstance(emoji, str):
        raise Invalid("Missing Body in Payload", {"Body": ["is required: an emoji, or \"\" to take it back"]})
    target = text_field(data, "Id") or ""
    return await queue_send(request, data, own_id=False, type="reaction", target=target.removeprefix("me:"),
                            emoji=emoji)
