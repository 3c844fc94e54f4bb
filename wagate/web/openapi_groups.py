"""The OpenAPI lines of a session's groups and communities (wagate.web.routes.groups), added to `openapi.OPERATIONS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wagate.schemas import groups as g
from wagate.schemas import responses as r
from wagate.schemas import simulator_groups as sim
from wagate.schemas import wuzapi as wz
from wagate.schemas import wuzapi_groups as wg

GROUPS = "/api/sessions/{session_id}/groups"
GROUP = GROUPS + "/{jid}"
COMMUNITIES = "/api/sessions/{session_id}/communities"
COMMUNITY = COMMUNITIES + "/{jid}"
# 409: the session is not WORKING; 502: WhatsApp refused or did not answer; 403 also: not an admin of the group.
READ = (400, 401, 403, 404, 409, 502)
CHANGE = (400, 401, 403, 404, 409, 502)


def groups_operations(op: Callable[..., Any]) -> list[Any]:
    """The lines, made with `openapi.Op` (passed in: this module is imported by that one)."""
    view, send = "view_logs", "send_message"

    def line(method: str, path: str, summary: str, permission: str, **kwargs: Any) -> Any:
        kwargs.setdefault("errors", READ if method == "GET" else CHANGE)
        # the router spells a group's JID with its pattern; the document names it {jid}
        return op(method, path, summary, "groups", permission=permission, **kwargs)

    return [
        line("GET", GROUPS, "The session's groups (live from WhatsApp)", view, data=g.GroupSchema, many=True),
        line("POST", GROUPS, "Create a group with participants", send, body=g.CreateGroupSchema, data=g.GroupSchema,
             status=201),
        line("POST", GROUPS + "/join", "Join a group by invite link or code", send, body=g.InviteSchema,
             data=g.JoinedSchema),
        line("GET", GROUPS + "/preview", "The group an invite link leads to, without joining", view,
             query=g.InviteSchema, data=g.GroupSchema),
        line("GET", GROUP, "One group: subject, description, owner, participants, settings (+ invite link for "
             "operators when the number is an admin)", view, data=g.GroupSchema),
        line("PUT", GROUP, "Change subject, description, announce, locked, join approval, disappearing timer", send,
             body=g.UpdateGroupSchema, data=g.GroupSchema),
        line("POST", GROUP + "/leave", "Leave the group", send, data=g.JoinedSchema),
        line("PUT", GROUP + "/picture", "Set the group's picture (a JPEG, base64)", send, body=g.GroupPictureSchema,
             data=g.PictureSetSchema),
        line("POST", GROUP + "/participants", "Add, remove, promote or demote; WhatsApp's result per participant",
             send, body=g.ParticipantsSchema, data=g.ParticipantResultSchema, many=True),
        line("GET", GROUP + "/requests", "Requests to join (groups with join approval)", view,
             data=g.JoinRequestSchema, many=True),
        line("POST", GROUP + "/requests", "Approve or reject requests to join", send, body=g.JoinRequestsSchema,
             data=g.ParticipantResultSchema, many=True),
        line("GET", GROUP + "/invite", "The group's invite link (admins of the group)", send,
             data=g.InviteLinkSchema),
        line("POST", GROUP + "/invite/revoke", "Revoke the invite link; answers the new one", send,
             data=g.InviteLinkSchema),
        line("GET", COMMUNITIES, "The session's communities", view, data=g.GroupSchema, many=True),
        line("POST", COMMUNITIES, "Create a community", send, body=g.CreateCommunitySchema, data=g.GroupSchema,
             status=201),
        line("GET", COMMUNITY + "/groups", "The groups linked to a community", view, data=g.GroupRefSchema,
             many=True),
        line("POST", COMMUNITY + "/groups", "Link a group to the community", send, body=g.LinkGroupSchema,
             data=g.GroupRefSchema),
        line("DELETE", COMMUNITY + "/groups/{group}", "Unlink a group from the community", send,
             data=g.GroupRefSchema),
            # the customer API (/v1): the same, in its plain objects
        op("GET", "/v1/sessions/{session_id}/groups", "The session's groups", "customer", "customer", raw=True,
           data=g.CustomerGroupsSchema, errors=READ),
        op("POST", "/v1/sessions/{session_id}/groups", "Create a group with participants (operator or admin keys)",
           "customer", "customer", raw=True, body=g.CreateGroupSchema, data=g.CustomerGroupSchema, status=201,
           errors=CHANGE),
        op("POST", "/v1/sessions/{session_id}/groups/{jid}/participants", "Add, remove, promote or demote "
           "(operator or admin keys); WhatsApp's result per participant", "customer", "customer", raw=True,
           body=g.ParticipantsSchema, data=g.CustomerParticipantsSchema, errors=CHANGE),
        # the other members of simulated groups (WA_TRANSPORT=simulator only)
        *[op("POST", f"/simulator/sessions/{{session_id}}/groups/{name}", summary, "simulator", "public", body=body,
             data=r.SimulatorJobSchema, status=202, errors=(400, 404, 409))
          for name, summary, body in (
            ("added", "Someone creates a group with the session's number in it", sim.AddedSchema),
            ("member-action", "An admin of a group adds, removes, promotes or demotes members", sim.MemberActionSchema),
            ("member-update", "A member of a group changes its subject, description or settings",
             sim.MemberUpdateSchema),
            ("join-request", "Someone asks to join a group with join approval", sim.AskToJoinSchema),
            ("privacy", "A number lets only its contacts add it to groups", sim.PrivacySchema))],
    ]


def wuzapi_groups_operations(op: Callable[..., Any]) -> list[Any]:
    """wuzapi's `/group/*` under `/wa` (wagate.web.routes.wuzapi.group)."""
    errors = (400, 401, 403, 404, 409, 429, 502)

    def line(method: str, path: str, summary: str, answer: Any, body: Any = None) -> Any:
        return op(method, f"/wa/group/{path}", summary, "wuzapi", "wuzapi", raw=True, data=answer, body=body,
                  errors=errors)

    return [
        line("GET", "list", "The session's groups, as whatsmeow's GroupInfo", wg.GroupListAnswer),
        line("GET", "info", "One group (`?groupJID=`)", wg.GroupInfoAnswer),
        line("GET", "invitelink", "The invite link (`?groupJID=`, `&reset=true` revokes it first)",
             wg.InviteLinkAnswer),
        line("POST", "photo", "Set the group's picture (a JPEG data URI)", wg.PhotoSetAnswer, wg.GroupPhotoBodySchema),
        line("POST", "name", "Rename the group", wz.DetailsAnswer, wg.GroupNameBodySchema),
        line("POST", "topic", "Set the group's description", wz.DetailsAnswer, wg.GroupTopicBodySchema),
        line("POST", "announce", "Only admins send (or everyone again)", wz.DetailsAnswer, wg.GroupAnnounceBodySchema),
        line("POST", "locked", "Only admins edit the group's info (or everyone again)", wz.DetailsAnswer,
             wg.GroupLockedBodySchema),
        line("POST", "ephemeral", "Disappearing messages: 24h, 7d, 90d or off", wz.DetailsAnswer,
             wg.GroupEphemeralBodySchema),
        line("POST", "create", "Create a group with participants", wg.GroupInfoAnswer, wg.GroupCreateBodySchema),
        line("POST", "leave", "Leave the group", wz.DetailsAnswer, wg.GroupJidBodySchema),
        line("POST", "participants", "Add, remove, promote or demote; WhatsApp's outcome per participant",
             wg.ParticipantsChangedAnswer, wg.GroupParticipantsBodySchema),
        line("POST", "join", "Join by invite link or code", wg.JoinedAnswer, wg.GroupCodeBodySchema),
        line("POST", "inviteinfo", "The group an invite leads to, without joining", wg.GroupInfoAnswer,
             wg.GroupCodeBodySchema),
    ]
