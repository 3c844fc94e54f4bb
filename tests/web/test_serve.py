"""A draining web process (SIGTERM received, port still open): readiness fails and every answer closes its
connection, saying so, so nginx sends nothing more on it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from wagate.web.keys import DRAINING


async def test_while_draining_readiness_fails_and_every_answer_says_connection_close(client: TestClient) -> None:
    response = await client.get("/health")
    assert response.status == 200 and response.headers.get("Connection", "").lower() != "close"

    client.app[DRAINING].set()
    for path in ("/health", "/api/sessions", "/nowhere"):  # an answer, a refusal (401), a 404: all of them
        response = await client.get(path)
        await response.read()
        assert response.headers.get("Connection", "").lower() == "close", (path, dict(response.headers))
    response = await client.get("/api/health")
    body = await response.json()
    assert response.status == 503 and body["status"] == "draining"
    assert "stopping" in body["message"]
