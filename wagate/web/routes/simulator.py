"""The simulated phone over HTTP: scan, pair, send the session a message, drop the network (simulator only).

Mounted by `create_app` only when WA_TRANSPORT=simulator. Each route enqueues a `simulator_control` job on the
session's bridge shard, which plays the action on its simulator, and waits for the bridge's answer: 202 with the
job id (`done` says whether it was played or is still queued for a bridge), or 409 with the reason the phone cannot
do it (no QR code on screen, the session is not linked …).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import Schema

from wagate.schemas import simulator as schemas
from wagate.schemas import simulator_incoming as incoming
from wagate.services.sessions import lifecycle, phone_actions
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import json_body

routes = web.RouteTableDef()
LINKING = frozenset({"scan", "enter_pair_code"})


def _accepted(message: str, **data: Any) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data}, status=202)


async def _control(request: web.Request, schema: type[Schema], action: str, message: str) -> web.Response:
    params = schemas.load(schema, await json_body(request, empty={}))  # all of /unlink's and /drop's are optional
    app = request.app
    session_id = request.match_info["session_id"]
    job_id = await lifecycle.control_simulator(app[DB], app[REDIS], app[SETTINGS], session_id, action, params)
    done = await phone_actions.wait_for_answer(app[REDIS], app[SETTINGS].bridge_shards, session_id, job_id)
    if done and action in LINKING:  # linked is done once the session is WORKING, ready to send
        done = await phone_actions.wait_until_working(app[DB], session_id)
    return _accepted(message, job_id=job_id, done=done)


@routes.post("/simulator/sessions/{session_id}/scan")
async def scan(request: web.Request) -> web.Response:
    return await _control(request, schemas.ScanSchema, "scan", "The phone scans the QR code")


@routes.post("/simulator/sessions/{session_id}/pair-code")
async def pair_code(request: web.Request) -> web.Response:
    return await _control(request, schemas.PairCodeSchema, "enter_pair_code", "The phone enters the pairing code")


@routes.post("/simulator/sessions/{session_id}/inbound")
async def inbound(request: web.Request) -> web.Response:
    return await _control(request, schemas.InboundSchema, "inject_message", "A message is on its way to the session")


@routes.post("/simulator/sessions/{session_id}/drop")
async def drop(request: web.Request) -> web.Response:
    return await _control(request, schemas.DropSchema, "drop_connection", "The network connection drops")


@routes.post("/simulator/sessions/{session_id}/unlink")
async def unlink(request: web.Request) -> web.Response:
    return await _control(request, schemas.UnlinkSchema, "unlink_from_phone", "The phone removes the linked device")


@routes.post("/simulator/sessions/{session_id}/send-failure")
async def send_failure(request: web.Request) -> web.Response:
    return await _control(request, schemas.SendFailureSchema, "set_send_failure", "Send failures are set")


def _contact_play(path: str) -> None:
    schema, action, message = incoming.CONTACT_PLAYS[path]

    async def play(request: web.Request) -> web.Response:
        return await _control(request, schema, action, message)

    routes.post(f"/simulator/sessions/{{session_id}}/{path}")(play)


for _path in incoming.CONTACT_PLAYS:
    _contact_play(_path)
@routes.post("/simulator/sessions/{session_id}/send-limit")
async def send_limit(request: web.Request) -> web.Response:
    return await _control(request, schemas.SendLimitSchema, "set_send_limit", "WhatsApp's send limit is set")


@routes.post("/simulator/sessions/{session_id}/silent")
async def silent(request: web.Request) -> web.Response:
    return await _control(request, schemas.SilentSchema, "go_silent", "The connection goes silent")


@routes.post("/simulator/not-on-whatsapp")
async def not_on_whatsapp(request: web.Request) -> web.Response:
    params = schemas.load(schemas.NotOnWhatsAppSchema, await json_body(request, empty={}))
    app = request.app
    job_ids = await lifecycle.set_not_on_whatsapp(app[REDIS], app[SETTINGS], params["phone"], params["not_on"])
    state = "not on WhatsApp" if params["not_on"] else "on WhatsApp"
    # One job per bridge shard: every shard's simulator must agree on who is on WhatsApp.
    return _accepted(f"{params['phone']} is {state} for every session", job_ids=job_ids)
