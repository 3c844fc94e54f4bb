"""Groups and communities: questions and changes only the session's live connection can answer.

Each call takes the JSON-able params the web checked (`wagate.schemas.groups`) and answers plain data: a group as
`dataclasses.asdict(transport.groups.Group)`, a change to members as one result per participant.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from wagate.bridge.calls.registry import call
from wagate.transport.base import WhatsAppTransport

Params = dict[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return dataclasses.asdict(value)


@call("groups.list")
async def list_groups(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.groups(session_id))


@call("groups.get")
async def get_group(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.group(session_id, params["jid"]))


@call("groups.create")
async def create_group(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.create_group(session_id, params["subject"], params.get("participants", []),
                                               community=params.get("community", False), parent=params.get("parent")))


@call("groups.leave")
async def leave_group(transport: WhatsAppTransport, session_id: str, params: Params) -> None:
    await transport.leave_group(session_id, params["jid"])


@call("groups.participants")
async def change_participants(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.change_participants(session_id, params["jid"], params["action"],
                                                      params["participants"]))


@call("groups.requests")
async def join_requests(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.join_requests(session_id, params["jid"]))


@call("groups.answer_requests")
async def answer_join_requests(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.answer_join_requests(session_id, params["jid"], params["action"],
                                                       params["participants"]))


@call("groups.invite_link")
async def invite_link(transport: WhatsAppTransport, session_id: str, params: Params) -> str:
    return await transport.invite_link(session_id, params["jid"], reset=params.get("reset", False))


@call("groups.join")
async def join_group(transport: WhatsAppTransport, session_id: str, params: Params) -> str:
    return await transport.join_group(session_id, params["code"])


@call("groups.preview")
async def invite_preview(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.invite_preview(session_id, params["code"]))


@call("groups.update")
async def update_group(transport: WhatsAppTransport, session_id: str, params: Params) -> None:
    changes = {key: params[key] for key in ("subject", "description", "announce", "locked", "join_approval",
                                            "disappearing") if params.get(key) is not None}
    await transport.update_group(session_id, params["jid"], **changes)


@call("groups.picture")
async def set_picture(transport: WhatsAppTransport, session_id: str, params: Params) -> str:
    return await transport.set_group_picture(session_id, params["jid"], base64.b64decode(params["image"]))


@call("groups.link")
async def link_group(transport: WhatsAppTransport, session_id: str, params: Params) -> None:
    await transport.link_group(session_id, params["community"], params["jid"])


@call("groups.unlink")
async def unlink_group(transport: WhatsAppTransport, session_id: str, params: Params) -> None:
    await transport.unlink_group(session_id, params["community"], params["jid"])


@call("groups.community_groups")
async def community_groups(transport: WhatsAppTransport, session_id: str, params: Params) -> Any:
    return _plain(await transport.community_groups(session_id, params["community"]))
