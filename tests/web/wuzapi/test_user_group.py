"""wuzapi's /user/*, /group/* and /newsletter/* under /wa: numbers checked and contacts listed through a real
bridge on the simulator, and the routes the transport cannot answer (501 naming them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.bridge.conftest import BRIDGE_ENV, start_bridge, until, wait_status
from tests.web.tenancy import Db, reseller_settings, session, tenant
from tests.web.wuzapi.calls import OTHER_PHONE, PHONE, wz
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.web.routes.wuzapi.group import GROUP_ROUTES


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, **BRIDGE_ENV)


async def test_check_and_contacts_of_a_linked_session(client: TestClient, db: Db, settings: Settings) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id, status=SessionStatus.STOPPED)
    await wz(client, "POST", "/wa/user/check", token, 409, data=f'{{"Phone":["{PHONE}"]}}')  # not linked yet
    handle = await start_bridge(settings)
    try:
        await wz(client, "POST", "/wa/session/connect", token, 200, data='{"Immediate":false}')
        await handle.sim.scan("s1", phone="6281234567890")
        await wait_status(db, "s1", SessionStatus.WORKING)
        await until(lambda: handle.sim.is_connected("s1"), what="s1 connected")
        handle.sim.set_not_on_whatsapp(OTHER_PHONE)
        users = (await wz(client, "POST", "/wa/user/check", token, 200,
                          data=f'{{"Phone":["{OTHER_PHONE}","{PHONE}"]}}'))["data"]["Users"]
        assert users == [
            {"IsInWhatsapp": False, "JID": f"{OTHER_PHONE}@s.whatsapp.net", "Query": OTHER_PHONE, "VerifiedName": ""},
            {"IsInWhatsapp": True, "JID": f"{PHONE}@s.whatsapp.net", "Query": PHONE, "VerifiedName": ""}]
        assert (await wz(client, "POST", "/wa/user/check", token, 400, data="{}"))["error"] == \
            "Missing Phone in Payload"
        await wz(client, "POST", "/wa/user/check", token, 400, data='{"Phone":["12"]}')
        contacts = (await wz(client, "GET", "/wa/user/contacts", token, 200))["data"]
        assert len(contacts) == 5 and all(jid.endswith("@s.whatsapp.net") for jid in contacts)
        assert all(entry["Found"] is True and set(entry) == {"BusinessName", "FirstName", "Found", "FullName",
                                                             "PushName"} for entry in contacts.values())
    finally:
        await handle.stop()


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/wa/user/info", '{"Phone":["5491155554445","5491155554444"]}'),
    ("POST", "/wa/user/avatar", '{"Phone":"5491155554445","Preview":true}'),
    ("GET", "/wa/user/avatar", '{"Phone":"5491155554445","Preview":true}'),
    ("POST", "/wa/user/presence", '{"type":"available"}'),
    ("GET", "/wa/user/lid", '{"Phone":"5491155554445"}'),
    *[("GET" if name in ("list", "info", "invitelink") else "POST", f"/wa/group/{name}",
       '{"GroupJID":"120362023605733675@g.us","Name":"New Group Name"}') for name, _ in GROUP_ROUTES],
])
async def test_unserved_routes_answer_501_naming_the_capability(client: TestClient, db: Db, method: str, path: str,
                                                                body: str | None) -> None:
    token = await session(db, "s1", (await tenant(db))[0])
    answer = await wz(client, method, path, token, 501, data=body)
    assert answer["details"]["capability"][0].split(" ")[0] == path.removeprefix("/wa/")
    assert (await wz(client, method, path, "wrong-token", 401, data=body))["success"] is False
