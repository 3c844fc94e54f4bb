"""wuzapi's `/group/*` under `/wa`: a session's groups in wuzapi's fields and answers, through the same calls to
the session's connection as `/api/sessions/{id}/groups` (so the same rules: WORKING or 409, WhatsApp's refusals,
audited changes). A group is answered as whatsmeow's `GroupInfo` marshalled by Go, as wuzapi answers it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from wagate.errors import Invalid
from wagate.schemas.groups import MAX_PICTURE_BYTES, SUBJECT
from wagate.services.groups import operations
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor
from wagate.web.routes.wuzapi.envelope import answer, field, payload, session_id, text_field, wuzapi_route

routes = web.RouteTableDef()

# wuzapi's disappearing-timer names
DURATIONS = {"off": 0, "24h": 86_400, "7d": 604_800, "90d": 7_776_000}
ACTIONS = ("add", "remove", "promote", "demote")


def group_info(group: dict[str, Any]) -> dict[str, Any]:
    """whatsmeow's `types.GroupInfo` as Go's encoding/json writes it (the fields the gateway knows)."""
    settings = group.get("settings") or {}
    return {
        "JID": group["jid"], "OwnerJID": group.get("owner") or "", "Name": group.get("subject", ""),
        "Topic": group.get("description", ""), "IsLocked": bool(settings.get("locked")),
        "IsAnnounce": bool(settings.get("announce")), "IsEphemeral": bool(settings.get("disappearing")),
        "DisappearingTimer": int(settings.get("disappearing") or 0),
        "IsJoinApprovalRequired": bool(settings.get("join_approval")), "IsParent": bool(group.get("is_community")),
        "LinkedParentJID": group.get("community") or "", "GroupCreated": int(group.get("created_at") or 0),
        "Participants": [{"JID": p["jid"], "LID": p.get("lid") or "", "IsAdmin": bool(p.get("is_admin")),
                          "IsSuperAdmin": bool(p.get("is_super_admin")), "DisplayName": p.get("name") or ""}
                         for p in group.get("participants") or []],
    }


async def _read(request: web.Request, name: str, params: dict[str, Any] | None = None) -> Any:
    app = request.app
    return await operations.read(app[DB], app[REDIS], app[SETTINGS], session_id(request), name, params,
                                 tenant_id=None)


async def _change(request: web.Request, name: str, params: dict[str, Any], **details: Any) -> Any:
    app = request.app
    return await operations.change(app[DB], app[REDIS], app[SETTINGS], session_id(request), name, params,
                                   tenant_id=None, actor=actor(request), details=details or None)


def _group_jid(value: str | None) -> str:
    if not value:
        raise Invalid("Missing GroupJID in Payload", {"GroupJID": ["is required"]})
    try:
        return operations.group_jid(value, field="GroupJID")
    except Invalid as exc:
        raise Invalid("Could not parse Group JID", exc.details) from exc


async def _body_group(request: web.Request) -> tuple[dict[str, Any], str]:
    data = await payload(request)
    return data, _group_jid(text_field(data, "GroupJID"))


def _flag(data: dict[str, Any], name: str) -> bool:
    value = field(data, name)
    if not isinstance(value, bool):
        raise Invalid(f"Missing {name} in Payload", {name: ["expects true or false"]})
    return value


def _phones(data: dict[str, Any]) -> list[str]:
    phones = field(data, "Phone") or field(data, "Participants")
    if not phones or not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        raise Invalid("Missing Phone in Payload", {"Phone": ["expects a list of numbers"]})
    return phones


@routes.get("/wa/group/list")
@wuzapi_route()
async def list_groups(request: web.Request) -> web.Response:
    return answer({"Groups": [group_info(g) for g in await _read(request, "groups.list")]})


@routes.get("/wa/group/info")
@wuzapi_route()
async def info(request: web.Request) -> web.Response:
    jid = _group_jid(request.query.get("groupJID") or request.query.get("GroupJID"))
    return answer(group_info(await _read(request, "groups.get", {"jid": jid})))


@routes.get("/wa/group/invitelink")
@wuzapi_route()
async def invite_link(request: web.Request) -> web.Response:
    jid = _group_jid(request.query.get("groupJID") or request.query.get("GroupJID"))
    reset = request.query.get("reset", "false").lower()
    if reset not in ("true", "false", "1", "0"):
        raise Invalid("Invalid reset parameter, must be true or false", {"reset": ["expects true or false"]})
    params = {"jid": jid, "reset": reset in ("true", "1")}
    link = await (_change(request, "groups.invite_link", params, revoked=True) if params["reset"]
                  else _read(request, "groups.invite_link", params))
    return answer({"InviteLink": link})


@routes.post("/wa/group/photo")
@wuzapi_route()
async def photo(request: web.Request) -> web.Response:
    data, jid = await _body_group(request)
    image = text_field(data, "Image") or ""
    if not image.startswith("data:image/jp"):
        raise Invalid('Image data should start with "data:image/jpeg;base64,"', {"Image": ["expects a JPEG data URI"]})
    try:
        raw = base64.b64decode(image.partition("base64,")[2], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("Could not decode base64 encoded data from payload", {"Image": ["is not base64"]}) from exc
    if len(raw) > MAX_PICTURE_BYTES:
        raise Invalid("Image too large", {"Image": [f"at most {MAX_PICTURE_BYTES} bytes"]})
    picture_id = await _change(request, "groups.picture", {"jid": jid, "image": base64.b64encode(raw).decode()},
                               bytes=len(raw))
    return answer({"Details": "Group Photo set successfully", "PictureID": picture_id})


@routes.post("/wa/group/name")
@wuzapi_route()
async def name(request: web.Request) -> web.Response:
    data, jid = await _body_group(request)
    subject = text_field(data, "Name") or ""
    SUBJECT(subject)
    await _change(request, "groups.update", {"jid": jid, "subject": subject}, changed=["subject"])
    return answer({"Details": "Group Name set successfully"})


@routes.post("/wa/group/topic")
@wuzapi_route()
async def topic(request: web.Request) -> web.Response:
    data, jid = await _body_group(request)
    description = field(data, "Topic")
    if not isinstance(description, str):
        raise Invalid("Missing Topic in Payload", {"Topic": ["expects a string"]})
    await _change(request, "groups.update", {"jid": jid, "description": description}, changed=["description"])
    return answer({"Details": "Group Topic set successfully"})


@routes.post("/wa/group/announce")
@wuzapi_route()
async def announce(request: web.Request) -> web.Response:
    data, jid = await _body_group(request)
    await _change(request, "groups.update", {"jid": jid, "announce": _flag(data, "Announce")}, changed=["announce"])
    return answer({"Details": "Group Announce set successfully"})


@routes.post("/wa/group/locked")
@wuzapi_route()
async def locked(request: web.Request) -> web.Response:
    data, jid = await _body_group(request)
    await _change(request, "groups.update", {"jid": jid, "locked": _flag(data, "Locked")}, changed=["locked"])
    return answer({"Details": "Group Locked set successfully"})


@routes.post("/wa/group/ephemeral")
@wuzapi_route()
async def ephemeral(request: web.Request) -> web.Response:
    data, jid = await _body_group(request)
    duration = str(field(data, "Duration") or "").lower()
    if duration not in DURATIONS:
        raise Invalid("Invalid Duration: expects 24h, 7d, 90d or off", {"Duration": list(DURATIONS)})
    await _change(request, "groups.update", {"jid": jid, "disappearing": DURATIONS[duration]},
                  changed=["disappearing"])
    return answer({"Details": "Disappearing timer set successfully"})


@routes.post("/wa/group/create")
@wuzapi_route()
async def create(request: web.Request) -> web.Response:
    data = await payload(request)
    subject = text_field(data, "Name") or ""
    SUBJECT(subject)
    participants = operations.participant_jids(_phones(data), request.app[SETTINGS])
    group = await _change(request, "groups.create", {"subject": subject, "participants": participants},
                          subject=subject, participants=len(participants))
    return answer(group_info(group))


@routes.post("/wa/group/leave")
@wuzapi_route()
async def leave(request: web.Request) -> web.Response:
    _, jid = await _body_group(request)
    await _change(request, "groups.leave", {"jid": jid})
    return answer({"Details": "Left group successfully"})


@routes.post("/wa/group/participants")
@wuzapi_route()
async def participants(request: web.Request) -> web.Response:
    data, jid = await _body_group(request)
    action = str(field(data, "Action") or "").lower()
    if action not in ACTIONS:
        raise Invalid("Invalid Action: expects add, remove, promote or demote", {"Action": list(ACTIONS)})
    people = operations.participant_jids(_phones(data), request.app[SETTINGS])
    results = await _change(request, "groups.participants", {"jid": jid, "action": action, "participants": people},
                            action=action, participants=people)
    return answer({"Details": "Group Participants updated", "Participants": [
        {"JID": r["jid"], "Outcome": r["outcome"], "Error": 0 if r["outcome"] == "done" else r["code"],
         "InviteCode": r.get("invite_code") or ""} for r in results]})


@routes.post("/wa/group/join")
@wuzapi_route()
async def join(request: web.Request) -> web.Response:
    code = operations.invite_code(text_field(await payload(request), "Code") or "")
    jid = await _change(request, "groups.join", {"code": code})
    return answer({"Details": "Group joined successfully", "GroupJID": jid})


@routes.post("/wa/group/inviteinfo")
@wuzapi_route()
async def invite_info(request: web.Request) -> web.Response:
    code = operations.invite_code(text_field(await payload(request), "Code") or "")
    return answer(group_info(await _read(request, "groups.preview", {"code": code})))


