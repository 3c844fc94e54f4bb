"""The message API of WA-Gate v2: send one (JSON or multipart with a file), send to many, read one, list.

Sends need `send_message` and pass the `send` rate limit; reads need `view_logs`. A send answers 202 with
the `queued` message: the bridge sends it later, paced, and its status moves on from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from wagate.db.enums import MessageType, SessionStatus
from wagate.errors import Invalid, PayloadTooLarge, UnsupportedMediaType, too_large_message
from wagate.schemas.messages import (
    ListQuerySchema,
    MessagePageSchema,
    MessageSchema,
    SendBulkSchema,
    kind_fields,
    load_send,
    resolve_bound,
)
from wagate.services.identity.principal import Permission
from wagate.services.messaging import kinds, media, sending
from wagate.services.messaging.phones import normalize_recipient
from wagate.services.sessions import lifecycle
from wagate.web.auth import rate_limited, require
from wagate.web.keys import DB, REDIS, SEND_INTAKE, SETTINGS
from wagate.web.replies import chosen_session, dump, json_body, load, multipart_parsing, ok, query, schema_of, tenant_of

routes = web.RouteTableDef()

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
FILE_PART = "file"
# A text field of a multipart send: the longest text WhatsApp allows, at up to 4 bytes per character.
MAX_FIELD_BYTES = sending.MAX_TEXT_CHARS * 4
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Upload:
    data: bytes = field(repr=False)
    file_name: str | None


async def _multipart(request: web.Request, limit: int) -> tuple[dict[str, str], Upload | None]:
    """Text parts as fields and the `file` part as bytes, streamed so an oversized file stops at the limit."""
    with multipart_parsing():
        return await _parts(await request.multipart(), limit)


async def _parts(reader: MultipartReader, limit: int) -> tuple[dict[str, str], Upload | None]:
    fields: dict[str, str] = {}
    upload: Upload | None = None
    async for part in reader:
        if not isinstance(part, BodyPartReader) or not part.name:
            raise Invalid("Invalid multipart body", {"_schema": ["expects named form fields, not nested parts"]})
        if part.name in fields or (part.name == FILE_PART and upload is not None):
            raise Invalid("Invalid multipart body", {part.name: ["is given more than once"]})
        cap = limit if part.name == FILE_PART else MAX_FIELD_BYTES
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK_BYTES):
            data += chunk
            if len(data) > cap:
                if part.name == FILE_PART:
                    raise PayloadTooLarge(too_large_message(limit // 2**20),
                                          {"file": [f"the limit is {limit // 2**20} MB"]})
                raise Invalid("Invalid multipart body", {part.name: [f"is longer than {cap} bytes"]})
        if part.name == FILE_PART:
            upload = Upload(bytes(data), part.filename)
        else:
            try:
                fields[part.name] = data.decode(part.get_charset("utf-8"))
            except (UnicodeDecodeError, LookupError) as exc:
                raise Invalid("Invalid multipart body", {part.name: ["is not UTF-8 text"]}) from exc
    return fields, upload


async def _send_input(request: web.Request) -> tuple[Any, Upload | None]:
    if request.content_type == "multipart/form-data":
        return await _multipart(request, request.app[SETTINGS].max_upload_bytes)
    if request.body_exists and request.content_type not in ("application/json", "application/octet-stream"):
        raise UnsupportedMediaType(f"A send is JSON or multipart/form-data, not {request.content_type}",
                                   {"content_type": ["expects application/json or multipart/form-data"]})
    return await json_body(request), None


def _message_type(given: str | None, upload: Upload | None, values: dict[str, Any]) -> str:
    """The type the caller gave, else what the input implies: the file's kind, a location, or text."""
    if upload is not None:
        if given is not None and given not in kinds.MEDIA_KINDS:
            raise Invalid("Invalid message", {"file": [f"is not used by a {given} message"]})
        return given or media.sniff(upload.data, upload.file_name).category
    if given is not None:
        return given
    if values.get("media_url") is not None or values.get("media_id") is not None:
        raise Invalid("Invalid message", {"type": [f"is required with media_url or media_id: one of "
                                                   f"{', '.join(kinds.MEDIA_KINDS)}"]})
    return MessageType.LOCATION if values.get("latitude") is not None else MessageType.TEXT


@routes.post("/api/messages/send")
@require(Permission.SEND_MESSAGE)
@rate_limited("send")
async def send(request: web.Request) -> web.Response:
    raw, upload = await _send_input(request)
    values = load_send(raw, has_media=upload is not None)
    kind = _message_type(values["type"], upload, values)
    session_id = await chosen_session(request, values["session"], status=SessionStatus.WORKING,
                                      purpose=" to send from")
    app = request.app
    queued = await app[SEND_INTAKE].submit(sending.SendRequest(
        session_id=session_id, to=values["to"], type=kind, text=values["message"], caption=values["caption"],
        media=upload.data if upload else None, file_name=upload.file_name if upload else None,
        latitude=values["latitude"], longitude=values["longitude"], location_name=values["location_name"],
        address=values["address"], reply_to=values["reply_to"], priority=values["priority"],
        send_at=values["send_at"], idempotency_key=request.headers.get(IDEMPOTENCY_HEADER),
        **kind_fields(values),
    ), tenant_id=tenant_of(request))
    if not queued.created:
        return ok("Message already accepted with this Idempotency-Key", dump(MessageSchema, queued.message),
                  status=202, headers={REPLAYED_HEADER: "true"})
    return ok("Message queued", dump(MessageSchema, queued.message), status=202)


@routes.post("/api/messages/send-bulk")
@require(Permission.SEND_MESSAGE)
@rate_limited("send")
async def send_bulk(request: web.Request) -> web.Response:
    values = load(SendBulkSchema, await json_body(request))
    session_id = await chosen_session(request, values["session"], status=SessionStatus.WORKING,
                                      purpose=" to send from")
    app = request.app
    queued = await sending.queue_messages(
        app[DB], app[REDIS], app[SETTINGS], session_id, values["to"], values["message"],
        priority=values["priority"], send_at=values["send_at"],
        idempotency_key=request.headers.get(IDEMPOTENCY_HEADER), tenant_id=tenant_of(request),
    )
    created = sum(1 for q in queued if q.created)
    items = MessageSchema(many=True).dump([q.message for q in queued])
    return ok(f"{created} message(s) queued, {len(queued) - created} already accepted",
              {"items": items, "count": len(items), "created": created}, status=202)


@routes.get(r"/api/messages/{message_id:\d+}")
@require(Permission.VIEW_LOGS)
async def get_message(request: web.Request) -> web.Response:
    message_id = int(request.match_info["message_id"])
    async with request.app[DB]() as db:
        message = await sending.get_message(db, message_id, tenant_of(request))
        return ok("Message", schema_of(MessageSchema).dump(message))


@routes.get("/api/messages")
@require(Permission.VIEW_LOGS)
async def list_messages(request: web.Request) -> web.Response:
    values = query(request, ListQuerySchema)
    settings = request.app[SETTINGS]
    tenant_id = tenant_of(request)
    if values["session"] is not None:  # someone else's session is refused, not silently empty
        await lifecycle.get_session(request.app[DB], values["session"], tenant_id=tenant_id)
    chat = values["chat"]
    if chat is not None:
        chat = normalize_recipient(chat, settings.default_region, field="chat").jid
    filters = sending.MessageFilters(
        session_id=values["session"], status=values["status"], direction=values["direction"], chat=chat,
        since=resolve_bound(values["from_"], settings.timezone, end=False, name="from"),
        until=resolve_bound(values["to"], settings.timezone, end=True, name="to"),
        page=values["page"], limit=values["limit"],
    )
    async with request.app[DB]() as db:
        page = await sending.list_messages(db, filters, tenant_id)
        return ok("Messages", MessagePageSchema().dump(page))
