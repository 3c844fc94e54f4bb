"""The group and community API of a session, answered live by the session's WhatsApp connection.

    GET    /api/sessions/{id}/groups                          view_logs     the groups the number is in
    POST   /api/sessions/{id}/groups                          send_message  201: create, with participants
    POST   /api/sessions/{id}/groups/join                     send_message  join by invite link or code
    GET    /api/sessions/{id}/groups/preview?link=            view_logs     the group an invite leads to
    GET    /api/sessions/{id}/groups/{jid}                    view_logs     one group (+ invite link for admins)
    PUT    /api/sessions/{id}/groups/{jid}                    send_message  subject, description, settings
    POST   /api/sessions/{id}/groups/{jid}/leave              send_message
    PUT    /api/sessions/{id}/groups/{jid}/picture            send_message  a JPEG, base64
    POST   /api/sessions/{id}/groups/{jid}/participants       send_message  add/remove/promote/demote
    GET    /api/sessions/{id}/groups/{jid}/requests           view_logs     who asks to join
    POST   /api/sessions/{id}/groups/{jid}/requests           send_message  approve/reject
    GET    /api/sessions/{id}/groups/{jid}/invite             send_message  the invite link
    POST   /api/sessions/{id}/groups/{jid}/invite/revoke      send_message  a new link; the old one stops working
    GET    /api/sessions/{id}/communities                     view_logs
    POST   /api/sessions/{id}/communities                     send_message  201
    GET    /api/sessions/{id}/communities/{jid}/groups        view_logs
    POST   /api/sessions/{id}/communities/{jid}/groups        send_message  link a group
    DELETE /api/sessions/{id}/communities/{jid}/groups/{group} send_message unlink it

A user-role caller reads only; operators change groups as they send from the number. An invite link lets anyone
in, so reading it is an operator's too. The session must be WORKING (409 otherwise); what WhatsApp refuses is a
502 with its reason, a group the number is not in a 404, a change only admins make a 403.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from aiohttp import web

from wagate.errors import Invalid
from wagate.schemas.groups import (
    MAX_PICTURE_BYTES,
    CreateCommunitySchema,
    CreateGroupSchema,
    GroupPictureSchema,
    GroupSchema,
    InviteSchema,
    JoinRequestsSchema,
    LinkGroupSchema,
    ParticipantResultSchema,
    ParticipantsSchema,
    UpdateGroupSchema,
)
from wagate.services.groups import operations
from wagate.services.identity.principal import Permission
from wagate.transport.groups import NotGroupAdmin
from wagate.web.auth import require
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, caller, json_body, load, ok, query, schema_of, tenant_of

routes = web.RouteTableDef()
GROUP_ID = r"\d{5,20}(?:-\d{5,20})?(?:@g\.us)?"  # a group's JID in a path, or its digits alone
GROUPS = "/api/sessions/{session_id}/groups"
GROUP = GROUPS + "/{jid:" + GROUP_ID + "}"
COMMUNITIES = "/api/sessions/{session_id}/communities"
COMMUNITY = COMMUNITIES + "/{jid:" + GROUP_ID + "}"


def group_view(group: dict[str, Any], invite_link: str | None = None) -> dict[str, Any]:
    """A group as the call answered it (`transport.groups.Group` as a dict), in the API's words."""
    participants = [{**p, "phone": p["jid"].partition("@")[0] if p["jid"].endswith("@s.whatsapp.net") else None}
                    for p in group.get("participants") or []]
    view = {**group, "created_at": int(group.get("created_at") or 0), "participants": participants,
            "participant_count": len(participants), "invite_link": invite_link}
    return schema_of(GroupSchema).dump(view)


async def _read(request: web.Request, name: str, params: dict[str, Any] | None = None) -> Any:
    app = request.app
    return await operations.read(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"], name, params,
                                 tenant_id=tenant_of(request))


async def _change(request: web.Request, name: str, params: dict[str, Any], *, target: str | None = None,
                  details: dict[str, Any] | None = None) -> Any:
    app = request.app
    return await operations.change(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"], name,
                                   params, tenant_id=tenant_of(request), actor=actor(request), target=target,
                                   details=details)


def _jid(request: web.Request) -> str:
    return operations.group_jid(request.match_info["jid"])


def _participants(request: web.Request, values: list[str]) -> list[str]:
    return operations.participant_jids(values, request.app[SETTINGS])


def results_view(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [schema_of(ParticipantResultSchema).dump({**r, "invite_expires": int(r["invite_expires"])
                                                     if r.get("invite_expires") else None}) for r in results]


# --- groups ---------------------------------------------------------------------------------------------


@routes.get(GROUPS)
@require(Permission.VIEW_LOGS)
async def list_groups(request: web.Request) -> web.Response:
    groups = [group_view(g) for g in await _read(request, "groups.list") if not g.get("is_community")]
    return ok(f"{len(groups)} group(s)", groups)


@routes.post(GROUPS)
@require(Permission.SEND_MESSAGE)
async def create_group(request: web.Request) -> web.Response:
    values = load(CreateGroupSchema, await json_body(request))
    participants = _participants(request, values["participants"])
    community = operations.group_jid(values["community"], field="community") if values["community"] else None
    group = await _change(request, "groups.create", {"subject": values["subject"], "participants": participants,
                                                     "parent": community},
                          details={"subject": values["subject"], "participants": len(participants)})
    return ok("Group created", group_view(group), status=201)


@routes.post(GROUPS + "/join")
@require(Permission.SEND_MESSAGE)
async def join_group(request: web.Request) -> web.Response:
    code = operations.invite_code(load(InviteSchema, await json_body(request))["link"])
    jid = await _change(request, "groups.join", {"code": code})
    return ok("Joined the group", {"jid": jid})


@routes.get(GROUPS + "/preview")
@require(Permission.VIEW_LOGS)
async def preview(request: web.Request) -> web.Response:
    code = operations.invite_code(query(request, InviteSchema)["link"])
    return ok("The group of this invite", group_view(await _read(request, "groups.preview", {"code": code})))


@routes.get(GROUP)
@require(Permission.VIEW_LOGS)
async def get_group(request: web.Request) -> web.Response:
    jid = _jid(request)
    group = await _read(request, "groups.get", {"jid": jid})
    link = None
    if caller(request).can(Permission.SEND_MESSAGE):  # an invite link lets anyone in: not for view-only callers
        try:
            link = await _read(request, "groups.invite_link", {"jid": jid})
        except NotGroupAdmin:  # only admins see it
            link = None
    return ok("Group", group_view(group, link))


@routes.put(GROUP)
@require(Permission.SEND_MESSAGE)
async def update_group(request: web.Request) -> web.Response:
    values = load(UpdateGroupSchema, await json_body(request))
    jid = _jid(request)
    await _change(request, "groups.update", {"jid": jid, **values}, details={"changed": sorted(values)})
    return ok("Group changed", group_view(await _read(request, "groups.get", {"jid": jid})))


@routes.post(GROUP + "/leave")
@require(Permission.SEND_MESSAGE)
async def leave_group(request: web.Request) -> web.Response:
    jid = _jid(request)
    await _change(request, "groups.leave", {"jid": jid})
    return ok("Left the group", {"jid": jid})


@routes.put(GROUP + "/picture")
@require(Permission.SEND_MESSAGE)
async def set_picture(request: web.Request) -> web.Response:
    raw = load(GroupPictureSchema, await json_body(request))["image"]
    try:
        image = base64.b64decode(raw.partition("base64,")[2] or raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("Invalid picture", details={"image": ["is not base64"]}) from exc
    if not image.startswith(b"\xff\xd8") or len(image) > MAX_PICTURE_BYTES:
        raise Invalid("Invalid picture", details={"image": [f"must be a JPEG image of at most {MAX_PICTURE_BYTES} "
                                                            "bytes"]})
    jid = _jid(request)
    picture_id = await _change(request, "groups.picture", {"jid": jid, "image": base64.b64encode(image).decode()},
                               details={"bytes": len(image)})
    return ok("Group picture set", {"jid": jid, "picture_id": picture_id})


@routes.post(GROUP + "/participants")
@require(Permission.SEND_MESSAGE)
async def change_participants(request: web.Request) -> web.Response:
    values = load(ParticipantsSchema, await json_body(request))
    participants = _participants(request, values["participants"])
    results = await _change(request, "groups.participants", {"jid": _jid(request), "action": values["action"],
                                                             "participants": participants},
                            details={"action": values["action"], "participants": participants})
    done = sum(r["outcome"] == "done" for r in results)
    return ok(f"{values['action'].capitalize()}: {done} of {len(results)} done", results_view(results))


@routes.get(GROUP + "/requests")
@require(Permission.VIEW_LOGS)
async def join_requests(request: web.Request) -> web.Response:
    requests = await _read(request, "groups.requests", {"jid": _jid(request)})
    return ok(f"{len(requests)} request(s) to join",
              [{"jid": r["jid"], "requested_at": int(r["requested_at"])} for r in requests])


@routes.post(GROUP + "/requests")
@require(Permission.SEND_MESSAGE)
async def answer_requests(request: web.Request) -> web.Response:
    values = load(JoinRequestsSchema, await json_body(request))
    participants = _participants(request, values["participants"])
    results = await _change(request, "groups.answer_requests", {"jid": _jid(request), "action": values["action"],
                                                                "participants": participants},
                            details={"action": values["action"], "participants": participants})
    return ok(f"Requests: {values['action']}", results_view(results))


@routes.get(GROUP + "/invite")
@require(Permission.SEND_MESSAGE)
async def invite_link(request: web.Request) -> web.Response:
    jid = _jid(request)
    return ok("Invite link", {"jid": jid, "invite_link": await _read(request, "groups.invite_link", {"jid": jid})})


@routes.post(GROUP + "/invite/revoke")
@require(Permission.SEND_MESSAGE)
async def revoke_invite(request: web.Request) -> web.Response:
    jid = _jid(request)
    link = await _change(request, "groups.invite_link", {"jid": jid, "reset": True}, details={"revoked": True})
    return ok("Invite link revoked; this is the new one", {"jid": jid, "invite_link": link})


# --- communities ----------------------------------------------------------------------------------------


@routes.get(COMMUNITIES)
@require(Permission.VIEW_LOGS)
async def list_communities(request: web.Request) -> web.Response:
    found = [group_view(g) for g in await _read(request, "groups.list") if g.get("is_community")]
    return ok(f"{len(found)} communit{'y' if len(found) == 1 else 'ies'}", found)


@routes.post(COMMUNITIES)
@require(Permission.SEND_MESSAGE)
async def create_community(request: web.Request) -> web.Response:
    values = load(CreateCommunitySchema, await json_body(request))
    community = await _change(request, "groups.create", {"subject": values["subject"], "participants": [],
                                                         "community": True},
                              details={"subject": values["subject"], "community": True})
    if values["description"]:
        await _change(request, "groups.update", {"jid": community["jid"], "description": values["description"]},
                      details={"changed": ["description"]})
        community = {**community, "description": values["description"]}
    return ok("Community created", group_view(community), status=201)


@routes.get(COMMUNITY + "/groups")
@require(Permission.VIEW_LOGS)
async def community_groups(request: web.Request) -> web.Response:
    jid = _jid(request)
    linked = await _read(request, "groups.community_groups", {"community": jid})
    return ok(f"{len(linked)} linked group(s)", [{"jid": g["jid"], "subject": g["subject"], "community": jid}
                                                 for g in linked])


@routes.post(COMMUNITY + "/groups")
@require(Permission.SEND_MESSAGE)
async def link_group(request: web.Request) -> web.Response:
    community = _jid(request)
    group = operations.group_jid(load(LinkGroupSchema, await json_body(request))["group"], field="group")
    await _change(request, "groups.link", {"community": community, "jid": group}, target=community,
                  details={"group": group})
    return ok("Group linked to the community", {"jid": group, "community": community})


@routes.delete(COMMUNITY + "/groups/{group:" + GROUP_ID + "}")
@require(Permission.SEND_MESSAGE)
async def unlink_group(request: web.Request) -> web.Response:
    community = _jid(request)
    group = operations.group_jid(request.match_info["group"], field="group")
    await _change(request, "groups.unlink", {"community": community, "jid": group}, target=community,
                  details={"group": group})
    return ok("Group unlinked from the community", {"jid": group, "community": None})
