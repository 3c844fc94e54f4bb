"""One error shape on every route family (/api, /v1, /wa, /sessions): `details` maps each field to a list of
messages (or is null), every missing field is named at once, and one fault gets one message, naming the limit or
the date, whichever route it came through."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from tests.web.api_rows import Db, Rows
from wagate.config import Settings
from wagate.db.enums import Role, TenantStatus
from wagate.web.app import create_app

EXPIRED_ON = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


def assert_one_shape(answer: Any) -> None:
    assert answer["success"] is False and isinstance(answer["message"], str) and answer["message"]
    details = answer["details"]
    assert details is None or (isinstance(details, dict) and details and all(
        isinstance(field, str) and isinstance(messages, list) and messages
        and all(isinstance(m, str) and m for m in messages) for field, messages in details.items())), answer


async def test_a_send_missing_to_and_message_names_both_on_every_route(client: TestClient, rows: Rows) -> None:
    tenant = await rows.tenant()
    await rows.session("s1", tenant_id=tenant)
    key = await rows.key(Role.OPERATOR, tenant_id=tenant)
    for path, headers in (("/api/messages/send", key), ("/v1/sessions/s1/messages", key),
                          ("/wa/send", {"Authorization": "Bearer s1"})):
        response = await client.post(path, headers=headers, json={"priority": "urgent"})
        assert response.status == 400, (path, await response.text())
        answer = await response.json()
        assert_one_shape(answer)
        assert {"to", "message"} <= set(answer["details"]), (path, answer)


async def test_an_upload_over_the_limit_names_the_limit_on_every_route(
    aiohttp_client: Any, settings: Settings, db: Db
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings.replace(max_upload_mb=1)))
    rows = Rows(db)
    tenant = await rows.tenant()
    await rows.session("s1", tenant_id=tenant)
    key = await rows.key(Role.OPERATOR, tenant_id=tenant)
    messages = set()
    for path, headers in (("/api/messages/send", key), ("/v1/sessions/s1/messages", key),
                          ("/wa/send", {"Authorization": "Bearer s1"})):
        form = FormData()
        form.add_field("session", "s1")
        form.add_field("to", "6281234567890")
        form.add_field("file", io.BytesIO(b"\0" * (2 * 2**20)), filename="big.bin",
                       content_type="application/octet-stream")
        response = await client.post(path, headers=headers, data=form)
        assert response.status == 413, (path, await response.text())
        answer = await response.json()
        assert_one_shape(answer)
        messages.add(answer["message"])
    assert len(messages) == 1 and "1 MB limit" in messages.pop()


async def test_an_expired_subscription_gives_the_date_and_renew_on_every_route(client: TestClient, rows: Rows) -> None:
    tenant = await rows.tenant(status=TenantStatus.EXPIRED, expires_at=EXPIRED_ON)
    await rows.session("s1", tenant_id=tenant)
    key = await rows.key(Role.OPERATOR, tenant_id=tenant)
    body = {"session": "s1", "to": "6281234567890", "message": "Halo"}
    answers = []
    for path, headers in (("/api/messages/send", key), ("/v1/sessions/s1/messages", key),
                          ("/wa/send", {"Authorization": "Bearer s1"})):
        response = await client.post(path, headers=headers, json=body)
        assert response.status == 403, (path, await response.text())
        answers.append(await response.json())
    for answer in answers:
        assert_one_shape(answer)
        assert "2026-11-30 17:00 UTC" in answer["message"] and "renew" in answer["message"], answer
    assert len({a["message"] for a in answers}) == 1


BAD_CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/api/messages/send", {"to": "0812", "message": "x", "priority": "soon"}),
    ("POST", "/api/messages/send", [1, 2]),
    ("GET", "/api/messages?limit=0", None),
    ("POST", "/api/sessions", {"name": ""}),
    ("POST", "/api/webhooks", {"url": "ftp://x", "events": ["nope"]}),
    ("GET", "/api/nowhere", None),
    ("POST", "/v1/sessions", {}),
    ("POST", "/v1/sessions/s1/messages", {"to": "not a number", "message": "x"}),
    ("POST", "/wa/send", {"to": "", "message": ""}),
    ("GET", "/sessions/nobody/credentials", None),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_CALLS)
async def test_every_refusal_has_the_one_shape(client: TestClient, rows: Rows, method: str, path: str,
                                               body: Any) -> None:
    tenant = await rows.tenant()
    await rows.session("s1", tenant_id=tenant)
    headers = await rows.key(Role.ADMIN) if path.startswith("/api") else await rows.key(Role.OPERATOR,
                                                                                          tenant_id=tenant)
    if path.startswith("/wa"):
        headers = {"Authorization": "Bearer s1"}
    response = await client.request(method, path, headers=headers, json=body)
    assert response.status >= 400, await response.text()
    assert_one_shape(await response.json())
