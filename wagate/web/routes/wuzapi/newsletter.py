"""wuzapi's `/newsletter/list` under `/wa`: the channels the session follows, in whatsmeow's NewsletterMetadata
JSON as wuzapi answers it (`{"Newsletter": [...]}`), asked of the session's live connection."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wagate.services.channels import newsletters
from wagate.web.keys import DB, REDIS, SETTINGS
from wagate.web.routes.wuzapi.envelope import answer, session_id, wuzapi_route

routes = web.RouteTableDef()


def metadata(channel: dict[str, Any]) -> dict[str, Any]:
    """whatsmeow's JSON of a NewsletterMetadata, from the gateway's channel."""
    verified = channel.get("verified")
    return {
        "id": channel["jid"],
        "state": {"type": "active"},
        "thread_metadata": {
            "invite": channel.get("invite_code") or "",
            "name": {"text": channel.get("name") or ""},
            "description": {"text": channel.get("description") or ""},
            "subscribers_count": str(channel.get("subscribers") or 0),
            "verification": "verified" if verified else "unverified",
        },
        "viewer_metadata": {"mute": "on" if channel.get("muted") else "off", "role": channel.get("role") or ""},
    }


@routes.route("*", "/wa/newsletter/list")  # any method, as the 501 it replaces: wuzapi clients differ
@wuzapi_route()
async def list_newsletters(request: web.Request) -> web.Response:
    app = request.app
    channels = await newsletters.followed(app[DB], app[REDIS], app[SETTINGS], session_id(request), tenant_id=None)
    return answer({"Newsletter": [metadata(channel) for channel in channels]})
