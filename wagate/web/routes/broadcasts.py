"""The broadcast API: create (JSON recipients or a CSV upload), preview, list, read with progress, pause/resume/cancel.

Every route needs the `broadcast` permission; the ones that change something also pass the `broadcast` rate
limit. A broadcast is created `running` (or `scheduled`) and answered at once: the worker expands it into
messages and the bridge sends them, paced as bulk.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from wagate.db.enums import SessionStatus
from wagate.errors import Invalid, PayloadTooLarge, UnsupportedMediaType, too_large_message
from wagate.schemas.broadcasts import (
    BroadcastSchema,
    CreateSchema,
    ListQuerySchema,
    RecipientsQuerySchema,
    page,
)
from wagate.services.broadcasts import campaigns
from wagate.services.broadcasts import kinds as broadcast_kinds
from wagate.services.broadcasts.recipients import RecipientList, from_csv, from_records
from wagate.services.identity.principal import Permission
from wagate.web.auth import rate_limited, require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, chosen_session, json_body, load, multipart_parsing, ok, query, tenant_of

routes = web.RouteTableDef()

CSV_PARTS = ("file", "csv", "recipients")
MEDIA_PART = "media"
MAX_FIELD_BYTES = 4 * 65_536
CHUNK_BYTES = 64 * 1024


@dataclass(slots=True)
class Input:
    values: dict[str, Any]
    csv: bytes | None = field(default=None, repr=False)
    media: bytes | None = field(default=None, repr=False)
    media_name: str | None = None


async def _input(request: web.Request) -> Input:
    """A JSON body, or a multipart form: text fields, the CSV (`file`) and an optional `media` attachment."""
    if request.content_type != "multipart/form-data":
        if request.body_exists and request.content_type not in ("application/json", "application/octet-stream"):
            raise UnsupportedMediaType(f"A broadcast is JSON or multipart/form-data, not {request.content_type}")
        return Input(load(CreateSchema, await json_body(request)))
    with multipart_parsing():
        return await _form(await request.multipart(), request.app[SETTINGS].max_upload_bytes)


async def _form(reader: MultipartReader, limit: int) -> Input:
    texts: dict[str, str] = {}
    found = Input({})
    async for part in reader:
        if not isinstance(part, BodyPartReader) or not part.name:
            raise Invalid("Invalid multipart body", {"_schema": ["expects named form fields"]})
        is_file = part.name in CSV_PARTS or part.name == MEDIA_PART
        data = bytearray()
        while chunk := await part.read_chunk(CHUNK_BYTES):
            data += chunk
            if len(data) > (limit if is_file else MAX_FIELD_BYTES):
                raise PayloadTooLarge(too_large_message(limit // 2**20),
                                      {part.name: [f"the limit is {limit // 2**20} MB"]})
        if part.name in CSV_PARTS:
            found.csv = bytes(data)
        elif part.name == MEDIA_PART:
            found.media, found.media_name = bytes(data), part.filename
        else:
            texts[part.name] = data.decode("utf-8", errors="replace")
    found.values = load(CreateSchema, texts)
    return found


async def _request(request: web.Request, *, need_session: bool) -> campaigns.BroadcastRequest:
    given = await _input(request)
    values, settings = given.values, request.app[SETTINGS]
    recipients: RecipientList
    if given.csv is not None:
        if values["recipients"] is not None:
            raise Invalid("Invalid broadcast", {"recipients": ["give a CSV file or a JSON list, not both"]})
        # In a thread: 100,000 rows take seconds of CPU, which would hold every other request of this process.
        recipients = await asyncio.to_thread(from_csv, given.csv, settings.default_region)
    elif values["recipients"] is not None:
        recipients = from_records(values["recipients"], settings.default_region)
    else:
        raise Invalid("Invalid broadcast", {"recipients": ["a JSON list or a CSV file (multipart part `file`)"]})
    session = values["session"]
    if need_session:
        session = await chosen_session(request, session, status=SessionStatus.WORKING, purpose=" to broadcast from")
    return campaigns.BroadcastRequest(
        session_id=session or "", name=values["name"], template=values["template"], recipients=recipients,
        media=given.media, media_type=values["media_type"] or ("document" if given.media else None),
        file_name=given.media_name, start_at=values["start_at"], kind=values["type"],
        fields={name: values[name] for name in broadcast_kinds.FIELDS})


@routes.post("/api/broadcast/preview")
@require(Permission.BROADCAST)
@rate_limited("broadcast")
async def preview(request: web.Request) -> web.Response:
    result = campaigns.preview_broadcast(await _request(request, need_session=False))
    return ok("Broadcast preview", {"total": result.total, "samples": result.samples, "invalid": result.invalid,
                                    "duplicates": result.duplicates, "blank_lines": result.blank_lines,
                                    "variables": result.variables})


@routes.post("/api/broadcast")
@require(Permission.BROADCAST)
@rate_limited("broadcast")
async def create(request: web.Request) -> web.Response:
    app = request.app
    created, report = await campaigns.create_broadcast(
        app[DB], app[REDIS], app[SETTINGS], await _request(request, need_session=True),
        tenant_id=tenant_of(request), actor=actor(request))
    data = {**BroadcastSchema().dump(created), "invalid": report.invalid, "duplicates": report.duplicates,
            "blank_lines": report.blank_lines}
    message = "Broadcast scheduled" if created.status == "scheduled" else "Broadcast started"
    return ok(message, data, status=201)


@routes.get("/api/broadcast")
@require(Permission.BROADCAST)
async def list_all(request: web.Request) -> web.Response:
    params = query(request, ListQuerySchema)
    async with request.app[DB]() as db:
        result = await campaigns.list_broadcasts(db, tenant_of(request), **params)
    return ok("Broadcasts", page(result, BroadcastSchema(many=True).dump(result.items)))


@routes.get(r"/api/broadcast/{id:\d+}")
@require(Permission.BROADCAST)
async def read(request: web.Request) -> web.Response:
    async with request.app[DB]() as db:
        view = await campaigns.get_broadcast(db, int(request.match_info["id"]), tenant_of(request))
    return ok("Broadcast", {**BroadcastSchema().dump(view.broadcast), "progress": view.progress.as_dict()})


@routes.get(r"/api/broadcast/{id:\d+}/recipients")
@require(Permission.BROADCAST)
async def recipients(request: web.Request) -> web.Response:
    params = query(request, RecipientsQuerySchema)
    async with request.app[DB]() as db:
        result = await campaigns.list_recipients(db, int(request.match_info["id"]), tenant_of(request), **params)
    return ok("Broadcast recipients", page(result, result.items))


@routes.post(r"/api/broadcast/{id:\d+}/{action:pause|resume|cancel}")
@require(Permission.BROADCAST)
@rate_limited("broadcast")
async def change(request: web.Request) -> web.Response:
    app, broadcast_id, action = request.app, int(request.match_info["id"]), request.match_info["action"]
    who, tenant = actor(request), tenant_of(request)
    if action == "pause":
        changed = await campaigns.pause_broadcast(app[DB], broadcast_id, tenant, who)
    elif action == "resume":
        changed = await campaigns.resume_broadcast(app[DB], app[REDIS], broadcast_id, tenant, who,
                                                    shards=app[SETTINGS].bridge_shards)
    else:
        changed = await campaigns.cancel_broadcast(app[DB], broadcast_id, tenant, who)
    past = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
    return ok(f"Broadcast {past}", BroadcastSchema().dump(changed))
