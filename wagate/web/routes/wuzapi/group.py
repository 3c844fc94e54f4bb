"""wuzapi's `/group/*` under `/wa`: the transport has no group operations yet, so every route answers 501 naming
the capability (after authenticating, as every other route)."""

from __future__ import annotations

from aiohttp import web

from wagate.web.routes.wuzapi.envelope import not_served

routes = web.RouteTableDef()

_NO_GROUPS = "the transport has no group operations"
GROUP_ROUTES = (
    ("list", "listing groups"), ("info", "group details"), ("invitelink", "invite links"),
    ("create", "creating groups"), ("leave", "leaving groups"), ("photo", "group photos"),
    ("name", "renaming groups"), ("topic", "group topics"), ("announce", "announce mode"),
    ("locked", "locking group info"), ("ephemeral", "disappearing messages"),
    ("participants", "group participants"), ("join", "joining by invite"), ("inviteinfo", "invite details"),
)
for name, what in GROUP_ROUTES:
    # Any method: several wuzapi clients send GET routes' fields as a POST body, and should hear 501, not 405.
    routes.route("*", f"/wa/group/{name}")(not_served(f"group/{name} ({what})", _NO_GROUPS))
