"""The session's proxy and call policy in its settings, its statuses and channels, over real HTTP: permissions
(a user-role caller only reads), bad input named field by field with nothing written, secrets never shown."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from tests.web.api_rows import Db, Rows, queued
from wagate.db.enums import Role, SessionStatus
from wagate.db.models_whatsapp import Message, WaSession
from wagate.web.keys import REDIS


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


async def test_proxy_and_call_policy_are_saved_shown_redacted_and_audited(client: TestClient, rows: Rows) -> None:
    await rows.session("s1", status=SessionStatus.STOPPED)
    admin = await rows.key(Role.ADMIN)
    response = await client.put("/api/sessions/s1/settings", headers=admin, json={
        "proxy_url": "socks5://alice:s3cret@10.0.0.5:1080", "reject_calls": True,
        "reject_call_message": "Maaf, tidak menerima telepon"})
    assert response.status == 200, await response.text()
    shown = (await response.json())["data"]
    assert (shown["proxy_url"], shown["reject_calls"], shown["reject_call_message"]) == (
        "socks5://***@10.0.0.5:1080", True, "Maaf, tidak menerima telepon")
    read = await client.get("/api/sessions/s1", headers=await rows.key(Role.USER))
    assert (await read.json())["data"]["settings"]["proxy_url"] == "socks5://***@10.0.0.5:1080"
    row = await rows.get(WaSession, "s1")
    assert row.proxy_url_encrypted and "s3cret" not in row.proxy_url_encrypted
    audits = [(a.action, str(a.details)) for a in await rows.audits()]
    assert [a for a, _ in audits] == ["session.update", "session.proxy"]
    assert all("s3cret" not in details and "alice" not in details for _, details in audits)
    assert await queued(client.app[REDIS]) == []  # a STOPPED session is not restarted
    await rows.session("s2", status=SessionStatus.WORKING)
    response = await client.put("/api/sessions/s2/settings", headers=admin, json={"proxy_url": "http://10.0.0.7:3128"})
    assert response.status == 200 and len(await queued(client.app[REDIS])) == 1  # a running one restarts through it


@pytest.mark.parametrize(("body", "named"), [
    ({"proxy_url": "ftp://h:21"}, "proxy_url"),
    ({"proxy_url": "socks5://h"}, "proxy_url"),  # no port
    ({"proxy_url": "http://h:8080/path"}, "proxy_url"),
    ({"reject_calls": "yes"}, "reject_calls"),
    ({"reject_call_message": "   "}, "reject_call_message"),
    ({"name": "renamed", "proxy_url": "gopher://h:70"}, "proxy_url"),
])
async def test_bad_settings_are_refused_by_field_and_nothing_is_written(client: TestClient, rows: Rows,
                                                                        body: dict[str, object], named: str) -> None:
    await rows.session("s1")
    response = await client.put("/api/sessions/s1/settings", headers=await rows.key(Role.ADMIN), json=body)
    assert response.status == 400, await response.text()
    answer = await response.json()
    assert answer["success"] is False and named in answer["details"], answer
    row = await rows.get(WaSession, "s1")
    assert (row.name, row.proxy_url_encrypted, row.settings) == (None, None, None)
    assert await rows.audits() == []


async def test_a_session_created_with_a_proxy_connects_only_once_it_is_stored(client: TestClient, rows: Rows) -> None:
    admin = await rows.key(Role.ADMIN)
    response = await client.post("/api/sessions", headers=admin, json={
        "id": "p1", "proxy_url": "http://bob:pw@10.0.0.9:3128", "reject_calls": True})
    assert response.status == 201, await response.text()
    data = (await response.json())["data"]
    assert data["session"]["settings"]["proxy_url"] == "http://***@10.0.0.9:3128"
    assert data["session"]["settings"]["reject_calls"] is True
    assert await queued(client.app[REDIS]) == [data["start_job_id"]]
    refused = await client.post("/api/sessions", headers=admin, json={"id": "p2", "proxy_url": "socks4://h:1"})
    assert refused.status == 400 and "proxy_url" in (await refused.json())["details"]
    assert await rows.count(WaSession) == 1


async def test_user_role_reads_but_changes_nothing(client: TestClient, rows: Rows) -> None:
    await rows.session("s1", status=SessionStatus.WORKING)
    user = await rows.key(Role.USER)
    assert (await client.put("/api/sessions/s1/settings", headers=user, json={"reject_calls": True})).status == 403
    assert (await client.post("/api/sessions/s1/statuses", headers=user, json={"text": "x"})).status == 403
    assert (await client.put("/api/sessions/s1/newsletters/120363000000000001@newsletter/follow",
                             headers=user)).status == 403
    listed = await client.get("/api/sessions/s1/statuses", headers=user)
    assert listed.status == 200 and (await listed.json())["data"] == []


async def test_a_status_is_queued_for_a_working_session_and_refused_otherwise(client: TestClient, rows: Rows) -> None:
    await rows.session("s1", status=SessionStatus.WORKING)
    await rows.session("off", status=SessionStatus.STOPPED)
    operator = await rows.key(Role.OPERATOR)
    response = await client.post("/api/sessions/s1/statuses", headers=operator, json={
        "text": "Promo", "background_color": "#1E88E5", "font": "fb_script"})
    assert response.status == 202, await response.text()
    [message] = await rows.messages()
    assert (message.recipient, message.body, message.content) == (
        "status@broadcast", "Promo", {"status": {"background_argb": 0xFF1E88E5, "font": 2}})
    refused = await client.post("/api/sessions/off/statuses", headers=operator, json={"text": "x"})
    assert refused.status == 409
    bad = await client.post("/api/sessions/s1/statuses", headers=operator, json={"type": "image"})
    assert bad.status == 400 and "media" in (await bad.json())["details"]
    assert await rows.count(Message) == 1
    # Not a chat: a status is never sent to by JID through the message API.
    sent = await client.post("/api/messages/send", headers=operator, json={
        "session": "s1", "to": "status@broadcast", "message": "x"})
    assert sent.status == 400


async def test_channel_calls_need_a_working_session(client: TestClient, rows: Rows) -> None:
    await rows.session("s1", status=SessionStatus.STOPPED)
    operator = await rows.key(Role.OPERATOR)
    response = await client.get("/api/sessions/s1/newsletters", headers=operator)
    assert response.status == 409
    bad = await client.get("/api/sessions/s1/newsletters/info?jid=nope", headers=operator)
    assert bad.status == 400 or bad.status == 409
    both = await client.get("/api/sessions/s1/newsletters/info?jid=1@newsletter&invite=abc", headers=operator)
    assert both.status == 400
