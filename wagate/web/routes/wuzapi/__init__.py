"""wuzapi's API under `/wa/*` (genfity-wa's, a fork of it), served by the gateway itself: one module per area.

Every route authenticates by the session's token (`token` header, then `Authorization: Bearer`, then `?token=`),
checks the session's subscription and counts against the per-session limit; answers and errors are wuzapi's
envelope (see `envelope`). A route whose capability the gateway lacks answers 501 naming it.
"""

from __future__ import annotations

from aiohttp import web

from wagate.web.routes.wuzapi import chat, chat_kinds, group, newsletter, session, user, webhook

AREAS = (session, webhook, chat, chat_kinds, user, group, newsletter)


def routes() -> list[web.AbstractRouteDef]:
    return [route for area in AREAS for route in area.routes]
