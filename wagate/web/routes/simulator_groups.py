"""The other members of simulated groups over HTTP: they add the session's number, change members and settings,
ask to join (WA_TRANSPORT=simulator only; mounted beside wagate.web.routes.simulator, answered the same way)."""

from __future__ import annotations

from aiohttp import web

from wagate.schemas import simulator_groups as schemas
from wagate.web.routes.simulator import _control

routes = web.RouteTableDef()
GROUPS = "/simulator/sessions/{session_id}/groups"


@routes.post(GROUPS + "/added")
async def added(request: web.Request) -> web.Response:
    return await _control(request, schemas.AddedSchema, "group_add_session",
                          "Someone creates a group with the session's number in it")


@routes.post(GROUPS + "/member-action")
async def member_action(request: web.Request) -> web.Response:
    return await _control(request, schemas.MemberActionSchema, "group_member_action",
                          "An admin of the group changes its members")


@routes.post(GROUPS + "/member-update")
async def member_update(request: web.Request) -> web.Response:
    return await _control(request, schemas.MemberUpdateSchema, "group_member_update",
                          "A member of the group changes it")


@routes.post(GROUPS + "/join-request")
async def join_request(request: web.Request) -> web.Response:
    return await _control(request, schemas.AskToJoinSchema, "group_join_request", "Someone asks to join the group")


@routes.post(GROUPS + "/privacy")
async def privacy(request: web.Request) -> web.Response:
    return await _control(request, schemas.PrivacySchema, "group_privacy",
                          "The number's privacy for being added to groups is set")
