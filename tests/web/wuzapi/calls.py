"""Calling wuzapi's routes under /wa as its API.md shows them, and holding each answer to wuzapi's envelope and to
the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from tests.web.spec import assert_documented

PHONE = "5491155554444"  # API.md's example numbers
OTHER_PHONE = "5491155554445"


def token_header(token: str) -> dict[str, str]:
    """API.md's `-H 'Token: 1234ABCD'`."""
    return {"Token": token}


async def wz(client: TestClient, method: str, path: str, token: str | None, status: int, *,
             data: str | None = None, headers: dict[str, str] | None = None) -> Any:
    """`curl -X <method> -H 'Token: …' --data '<data>' <path>`: the answer, after checking its status, wuzapi's
    envelope (`code` is the status; `data` on success, `error` otherwise) and the document."""
    sent = {**(token_header(token) if token else {}), **(headers or {})}
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    response = await client.request(method, path, data=data, headers=sent)
    text = await response.text()
    assert response.status == status, text
    body = json.loads(text)
    assert body["code"] == status and body["success"] is (status < 400), body
    if status < 400:
        assert "data" in body, body
    else:
        assert isinstance(body["error"], str) and body["error"], body
    await assert_documented(client, method, path, status, body)
    return body
