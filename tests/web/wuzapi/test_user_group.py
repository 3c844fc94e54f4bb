"""wuzapi's /user/* and /newsletter/* under /wa: numbers checked and contacts listed through a real bridge on the
simulator, and the routes the transport cannot answer (501 naming them). /group/* is tests/web/wuzapi/test_group.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.bridge.conftest import BRIDGE_ENV, start_bridge, until, wait_status
from tests.web.tenancy import Db, reseller_settings, session, tenant
from tests.web.wuzapi.calls import OTHER_PHONE, PHONE, wz
from wagate.config import Settings
from wagate.db.enums import SessionStatus


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


async def test_profiles_presence_lids_and_read_receipts_as_wuzapi_answers_them(client: TestClient, db: Db,
                                                                                settings: Settings) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id, status=SessionStatus.STOPPED)
    await wz(client, "POST", "/wa/user/info", token, 409, data=f'{{"Phone":["{PHONE}"]}}')  # not connected
    handle = await start_bridge(settings)
    try:
        await wz(client, "POST", "/wa/session/connect", token, 200, data='{"Immediate":false}')
        await handle.sim.scan("s1", phone="6281234567890")
        await wait_status(db, "s1", SessionStatus.WORKING)
        await until(lambda: handle.sim.is_connected("s1"), what="s1 connected")
        handle.sim.set_contact_profile(PHONE, about="Open 9-17", picture=b"\xff\xd8\xffpicture",
                                       verified_name="Great Company")
        users = (await wz(client, "POST", "/wa/user/info", token, 200,
                          data=f'{{"Phone":["{PHONE}","{OTHER_PHONE}"]}}'))["data"]["Users"]
        mine = users[f"{PHONE}@s.whatsapp.net"]
        assert (mine["Status"], mine["VerifiedName"], len(mine["Devices"])) == (
            "Open 9-17", {"Details": {"verifiedName": "Great Company"}}, 2) and mine["PictureID"]
        assert users[f"{OTHER_PHONE}@s.whatsapp.net"]["VerifiedName"] is None
        for method in ("POST", "GET"):
            avatar = (await wz(client, method, "/wa/user/avatar", token, 200,
                               data=f'{{"Phone":"{PHONE}","Preview":true}}'))["data"]
            assert avatar["ID"] == mine["PictureID"] and avatar["Type"] == "preview" and avatar["URL"]
        await wz(client, "POST", "/wa/user/avatar", token, 404, data=f'{{"Phone":"{OTHER_PHONE}"}}')
        await wz(client, "POST", "/wa/user/avatar", token, 400, data='{"Phone":"12"}')
        assert (await wz(client, "POST", "/wa/user/presence", token, 200, data='{"type":"unavailable"}'))[
            "data"] == {"Details": "Presence set successfuly"}
        await wz(client, "POST", "/wa/user/presence", token, 400, data='{"type":"away"}')
        lid = (await wz(client, "GET", "/wa/user/lid", token, 200, data=f'{{"Phone":"{PHONE}"}}'))["data"]
        assert lid["Phone"] == f"{PHONE}@s.whatsapp.net" and lid["LID"].endswith("@lid")
        assert (await wz(client, "POST", "/wa/user/lid", token, 200, data=f'{{"Phone":"{lid["LID"]}"}}'))[
            "data"] == lid

        incoming = await handle.sim.inject_message("s1", PHONE, "halo")
        await wz(client, "POST", "/wa/chat/markread", token, 400, data='{"Chat":"5491155554444@s.whatsapp.net"}')
        done = await wz(client, "POST", "/wa/chat/markread", token, 200, data=(
            f'{{"Id":["{incoming.message_id}"],"Chat":"{PHONE}.0:1@s.whatsapp.net"}}'))
        assert done["data"] == {"Details": "Message(s) marked as read"}
        [mark] = [m for m in handle.sim.read_marks if m.message_ids == (incoming.message_id,)]
        assert mark.chat == f"{PHONE}@s.whatsapp.net"
        assert (await wz(client, "POST", "/wa/chat/presence", token, 200,
                         data=f'{{"Phone":"{PHONE}","State":"composing","Media":"audio"}}'))["data"] == {
            "Details": "Chat presence set successfuly"}
        await wz(client, "POST", "/wa/chat/presence", token, 400, data=f'{{"Phone":"{PHONE}","State":"typing"}}')
        assert [(a.action, a.value) for a in handle.sim.chat_actions] == [
            ("presence", False), ("chat_presence", "recording")]
    finally:
        await handle.stop()
