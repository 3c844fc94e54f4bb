"""The chats API through a real bridge on the simulator: chats made and kept by incoming and outgoing messages,
their pages, read receipts, archive / pin / mute in WhatsApp and from the phone, presence; every answer held to
the OpenAPI document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.bridge.conftest import BRIDGE_ENV, RunningBridge, start_bridge, until, wait_status
from tests.web.identities import add_key
from tests.web.spec import assert_documented
from tests.web.tenancy import Db, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import Role, SessionStatus
from wagate.db.models_identity import AuditLog
from wagate.transport.simulator import SimulatorTransport

PHONE = "6281298765432"
OTHER = "6281311112222"
CHAT = f"{PHONE}@s.whatsapp.net"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, RATE_LIMIT_SEND="none", RATE_LIMIT_DASHBOARD="none",
                             RATE_LIMIT_KEY_USER="none", RATE_LIMIT_KEY_OPERATOR="none",
                             **BRIDGE_ENV)


async def call(client: TestClient, method: str, path: str, key: str, status: int, body: Any = None) -> Any:
    response = await client.request(method, path, json=body, headers={"x-api-key": key})
    answer = await response.json()
    assert response.status == status, answer
    await assert_documented(client, method, path.split("?", 1)[0], status, answer)
    return answer


def sim(handle: RunningBridge) -> SimulatorTransport:
    return handle.sim


async def linked(client: TestClient, db: Db, settings: Settings) -> tuple[RunningBridge, str, str]:
    """A WORKING session s1 of a tenant, its bridge, and the tenant's operator and user keys."""
    tenant_id, _ = await tenant(db)
    await session(db, "s1", tenant_id, status=SessionStatus.STOPPED)
    _, operator = await add_key(db, Role.OPERATOR, tenant_id=tenant_id)
    _, user = await add_key(db, Role.USER, tenant_id=tenant_id)
    handle = await start_bridge(settings)
    await call(client, "POST", "/api/sessions/s1/start", operator, 202)
    await until(lambda: _pairing(handle), what="QR on screen")
    await sim(handle).scan("s1", phone="6281234567890")
    await wait_status(db, "s1", SessionStatus.WORKING)
    await until(lambda: sim(handle).is_connected("s1"), what="s1 connected")
    return handle, operator, user


async def _pairing(handle: RunningBridge) -> bool:
    return sim(handle)._session("s1").qr is not None


async def chats(client: TestClient, key: str, query: str = "") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await call(client, "GET", f"/api/chats?session_id=s1{query}", key, 200))[
        "data"]["items"]
    return items


async def test_messages_make_chats_newest_first_and_reading_sends_receipts(client: TestClient, db: Db,
                                                                        settings: Settings) -> None:
    handle, operator, user = await linked(client, db, settings)
    try:
        first = await sim(handle).inject_message("s1", PHONE, "Halo, ada kamar?", push_name="Budi")
        second = await sim(handle).inject_message("s1", PHONE, "Untuk besok", push_name="Budi")

        async def two_unread() -> bool:
            found = await chats(client, user)
            return bool(found) and found[0]["unread_count"] == 2
        await until(two_unread, what="a chat with 2 unread")
        [chat] = await chats(client, user)
        assert (chat["chat"], chat["name"], chat["archived"], chat["pinned"], chat["muted_until"]) == (
            CHAT, "Budi", False, False, None)
        assert chat["last_message"]["text"] == "Untuk besok" and chat["last_message"]["direction"] == "in"

        page = (await call(client, "GET", f"/api/chats/{PHONE}/messages?session_id=s1&limit=1", user, 200))["data"]
        assert [m["wa_message_id"] for m in page["items"]] == [second.message_id] and page["next_cursor"]
        rest = (await call(client, "GET", f"/api/chats/{CHAT}/messages?session_id=s1&limit=5&cursor="
                           f"{page['next_cursor']}", user, 200))["data"]
        assert [m["wa_message_id"] for m in rest["items"]] == [first.message_id] and rest["next_cursor"] is None
        await call(client, "GET", "/api/chats?session_id=s1&cursor=not-a-cursor", user, 400)

        await call(client, "POST", f"/api/chats/{PHONE}/read", user, 403, {"session_id": "s1"})  # users only read
        state = (await call(client, "POST", f"/api/chats/{PHONE}/read", operator, 200, {"session_id": "s1"}))["data"]
        assert state["unread_count"] == 0
        [mark] = [m for m in sim(handle).read_marks if m.session_id == "s1"]
        assert set(mark.message_ids) == {first.message_id, second.message_id} and mark.chat == CHAT
        assert sim(handle).chat_state("s1", CHAT)["read"] is True  # the phone's badge too
        assert (await chats(client, user))[0]["unread_count"] == 0
        async with db() as s:
            assert await s.scalar(select(AuditLog.action).where(AuditLog.action == "chat.read")) == "chat.read"

        # the operator answers: the chat's newest message is the answer, and a new contact's chat goes on top
        await call(client, "POST", "/api/messages/send", operator, 202, {"session": "s1", "to": PHONE,
                                                                         "message": "Ada, kak"})

        async def answered() -> bool:
            last = (await chats(client, user))[0]["last_message"]
            return bool(last["direction"] == "out" and last["status"] in ("sent", "delivered", "read"))
        await until(answered, what="the answer as the chat's newest message")
        await sim(handle).inject_message("s1", OTHER, "Permisi")

        async def other_on_top() -> bool:
            return (await chats(client, user))[0]["chat"] == f"{OTHER}@s.whatsapp.net"
        await until(other_on_top, what="the new chat on top")
        found = await chats(client, user)
        assert [(c["chat"], c["unread_count"]) for c in found] == [(f"{OTHER}@s.whatsapp.net", 1), (CHAT, 0)]
        assert (await call(client, "GET", "/api/chats?session_id=s1&limit=1", user, 200))["data"]["next_cursor"]

        # only given messages: the other chat's one, by id; an id that is not unread is refused
        await call(client, "POST", f"/api/chats/{OTHER}/read", operator, 400,
                   {"session_id": "s1", "message_ids": [first.message_id]})
    finally:
        await handle.stop()


async def test_archive_pin_mute_here_and_on_the_phone(client: TestClient, db: Db, settings: Settings) -> None:
    handle, operator, user = await linked(client, db, settings)
    try:
        await sim(handle).inject_message("s1", PHONE, "Halo")
        await until(lambda: _has_chat(client, user), what="the chat")
        pinned = (await call(client, "POST", f"/api/chats/{PHONE}/pin", operator, 200, {"session_id": "s1"}))["data"]
        assert pinned["pinned"] is True and sim(handle).chat_state("s1", CHAT)["pinned"] is True
        archived = (await call(client, "POST", f"/api/chats/{PHONE}/archive", operator, 200))["data"]  # one session
        assert (archived["archived"], archived["pinned"]) == (True, False)  # WhatsApp unpins what it archives
        assert await chats(client, user, "&archived=false") == []
        assert [c["chat"] for c in await chats(client, user, "&archived=true")] == [CHAT]
        await call(client, "POST", f"/api/chats/{PHONE}/unarchive", operator, 200, {"session_id": "s1"})
        muted = (await call(client, "POST", f"/api/chats/{PHONE}/mute", operator, 200,
                            {"session_id": "s1", "until": "2099-01-01T00:00:00+00:00"}))["data"]
        assert muted["muted_until"] == 4070908800
        assert sim(handle).chat_state("s1", CHAT)["muted_until"] == 4070908800
        forever = (await call(client, "POST", f"/api/chats/{PHONE}/mute", operator, 200, {"session_id": "s1"}))["data"]
        assert forever["muted_until"] == -1
        await call(client, "POST", f"/api/chats/{PHONE}/mute", operator, 400,
                   {"session_id": "s1", "until": "2001-01-01T00:00:00+00:00"})
        assert (await call(client, "POST", f"/api/chats/{PHONE}/unmute", operator, 200, {}))["data"][
            "muted_until"] is None
        actions = [(a.action, a.value) for a in sim(handle).chat_actions if a.chat == CHAT]
        assert actions == [("pin", True), ("archive", True), ("archive", False), ("mute", 4070908800.0),
                           ("mute", None), ("mute", False)]

        # the owner reads and archives on the phone: the app state reaches the gateway
        await sim(handle).inject_message("s1", PHONE, "Masih ada?")
        await until(lambda: _unread(client, user, 2), what="two unread")
        await sim(handle).change_chat_on_phone("s1", CHAT, read=True, archived=True)
        await until(lambda: _unread(client, user, 0), what="read on the phone")
        assert (await chats(client, user))[0]["archived"] is True

        await call(client, "POST", f"/api/chats/{PHONE}/pin", operator, 400, {"session_id": "s1", "x": 1})
        await call(client, "POST", "/api/chats/not-a-number/pin", operator, 400, {"session_id": "s1"})
        await call(client, "POST", f"/api/chats/{PHONE}/presence", operator, 200,
                   {"session_id": "s1", "state": "recording"})
        await call(client, "POST", "/api/sessions/s1/presence", operator, 200, {"available": True})
        assert [(a.action, a.value) for a in sim(handle).chat_actions][-2:] == [("chat_presence", "recording"),
                                                                                ("presence", True)]
        await handle.sim.drop_connection("s1", reconnect=False)
        await wait_status(db, "s1", SessionStatus.STOPPED)
        answer = await call(client, "POST", f"/api/chats/{PHONE}/pin", operator, 409, {"session_id": "s1"})
        assert "not WORKING" in answer["message"] or "WORKING" in str(answer["details"])
    finally:
        await handle.stop()


async def _has_chat(client: TestClient, key: str) -> bool:
    return bool(await chats(client, key))


async def _unread(client: TestClient, key: str, count: int) -> bool:
    found = await chats(client, key)
    return bool(found) and found[0]["unread_count"] == count
