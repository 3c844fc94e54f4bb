"""Headers every answer carries: a CSP that lets pages connect only to their own origin, and no server version."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from tests.web.api_rows import Db
from tests.web.identities import add_user, login
from wagate.db.enums import Role
from wagate.web.routes import events_ws


def directives(csp: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in csp.split(";") if part.strip())}


async def test_pages_may_connect_to_their_own_origin_only(client: TestClient) -> None:
    for path in ("/login.html", "/dashboard.html", "/api/health", "/no/such/page"):
        response = await client.get(path)
        csp = directives(response.headers["Content-Security-Policy"])
        # 'self' covers the page's own ws:// and wss:// (CSP Level 3); a bare `ws:` or `wss:` is any host.
        assert csp["connect-src"] == ["'self'"], (path, csp)
        assert csp["default-src"] == ["'self'"]


async def test_no_answer_names_the_server_software_or_its_version(client: TestClient, db: Db) -> None:
    await add_user(db, "head-admin", Role.ADMIN)
    token = (await login(client, "head-admin"))["access_token"]
    answers = [await client.get(path) for path in ("/login.html", "/js/api.js", "/api/health", "/no/such/page")]
    answers.append(await client.post("/api/auth/login", data="x", headers={"Content-Type": "text/plain"}))
    ws = await client.ws_connect("/api/events", protocols=(events_ws.PROTOCOL, f"bearer.{token}"))
    answers.append(ws._response)  # the handshake: prepared by the handler itself, not by a middleware
    await ws.close()
    for response in answers:
        server = response.headers.get("Server", "")
        assert server == "WA-Gate", (response.url, server)
        assert not re.search(r"aiohttp|python|\d+\.\d+", server, re.I)
