"""A customer's groups on the customer API (`/v1/sessions/{session_id}/groups…`), as `/api/sessions/{id}/groups`
answers them but in /v1's plain objects (`{"groups": […], "count"}`, `{"group": …}`, `{"results": […]}`).

The key's tenant only (another tenant's session is 404, as a missing one); reading takes any of the tenant's keys,
changing a group its operator or admin keys (a user-role key only reads, as everywhere).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.errors import Forbidden
from wagate.schemas.groups import CreateGroupSchema, ParticipantsSchema
from wagate.services.groups import operations
from wagate.services.identity.principal import Permission
from wagate.web.auth import principal, require_customer
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.replies import actor, json_body, load
from wagate.web.routes.groups import GROUP_ID, group_view, results_view

routes = web.RouteTableDef()
GROUPS = "/v1/sessions/{session_id}/groups"


def _tenant(request: web.Request) -> int | None:
    return principal(request).tenant_id


async def _change(request: web.Request, name: str, params: dict[str, Any], **details: Any) -> Any:
    if not principal(request).can(Permission.SEND_MESSAGE):
        raise Forbidden("Permission denied: send_message required", {"role": [str(principal(request).role)]})
    app = request.app
    return await operations.change(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"], name,
                                   params, tenant_id=_tenant(request), actor=actor(request), details=details)


@routes.get(GROUPS)
@require_customer()
async def list_groups(request: web.Request) -> web.Response:
    app = request.app
    found = await operations.read(app[DB], app[REDIS], app[SETTINGS], request.match_info["session_id"],
                                  "groups.list", tenant_id=_tenant(request))
    groups = [group_view(g) for g in found]
    return web.json_response({"groups": groups, "count": len(groups)})


@routes.post(GROUPS)
@require_customer()
async def create_group(request: web.Request) -> web.Response:
    values = load(CreateGroupSchema, await json_body(request))
    participants = operations.participant_jids(values["participants"], request.app[SETTINGS])
    parent = operations.group_jid(values["community"], field="community") if values["community"] else None
    group = await _change(request, "groups.create", {"subject": values["subject"], "participants": participants,
                                                     "parent": parent},
                          subject=values["subject"], participants=len(participants))
    return web.json_response({"group": group_view(group)}, status=201)


@routes.post(GROUPS + "/{jid:" + GROUP_ID + "}/participants")
@require_customer()
async def change_participants(request: web.Request) -> web.Response:
    values = load(ParticipantsSchema, await json_body(request))
    participants = operations.participant_jids(values["participants"], request.app[SETTINGS])
    jid = operations.group_jid(request.match_info["jid"])
    results = await _change(request, "groups.participants", {"jid": jid, "action": values["action"],
                                                             "participants": participants},
                            action=values["action"], participants=participants)
    return web.json_response({"jid": jid, "action": values["action"], "results": results_view(results)})
