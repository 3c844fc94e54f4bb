"""wuzapi's /group/* under /wa as its API.md shows the calls, answered by a real bridge on the simulator; each answer
is held to wuzapi's envelope and to the OpenAPI document (`wz`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.bridge.conftest import BRIDGE_ENV, start_bridge, until, wait_status
from tests.web.tenancy import Db, reseller_settings, session, tenant
from tests.web.wuzapi.calls import OTHER_PHONE, PHONE, wz
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.db.models_identity import AuditLog

OWN = "6281234567890"
JPEG_URI = "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(40)).decode()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return reseller_settings(tmp_path, database_url, redis_url, **BRIDGE_ENV)


async def test_group_calls_as_wuzapi_documents_them(client: TestClient, db: Db, settings: Settings) -> None:
    tenant_id, _ = await tenant(db)
    token = await session(db, "s1", tenant_id, status=SessionStatus.STOPPED)
    stopped = await wz(client, "GET", "/wa/group/list", token, 409)
    assert "connect it first" in stopped["error"]
    handle = await start_bridge(settings)
    try:
        await wz(client, "POST", "/wa/session/connect", token, 200, data='{"Immediate":false}')
        await handle.sim.scan("s1", phone=OWN)
        await wait_status(db, "s1", SessionStatus.WORKING)
        await until(lambda: handle.sim.is_connected("s1"), what="s1 connected")
        handle.sim.set_not_on_whatsapp(OTHER_PHONE)

        created = (await wz(client, "POST", "/wa/group/create", token, 200,
                            data=json.dumps({"Name": "Grup Toko", "Participants": [PHONE]})))["data"]
        jid = created["JID"]
        assert created["Name"] == "Grup Toko" and created["OwnerJID"] == f"{OWN}@s.whatsapp.net"
        assert {p["JID"]: p["IsSuperAdmin"] for p in created["Participants"]} == {
            f"{OWN}@s.whatsapp.net": True, f"{PHONE}@s.whatsapp.net": False}
        listed = (await wz(client, "GET", "/wa/group/list", token, 200))["data"]["Groups"]
        assert [g["JID"] for g in listed] == [jid]

        for path, body in (("name", {"Name": "Grup Toko Baru"}), ("topic", {"Topic": "Promo tiap Jumat"}),
                           ("announce", {"Announce": True}), ("locked", {"Locked": True}),
                           ("ephemeral", {"Duration": "7d"})):
            done = await wz(client, "POST", f"/wa/group/{path}", token, 200, data=json.dumps({"GroupJID": jid, **body}))
            assert done["data"]["Details"].endswith("successfully")
        info = (await wz(client, "GET", f"/wa/group/info?groupJID={jid}", token, 200))["data"]
        assert (info["Name"], info["Topic"], info["IsAnnounce"], info["IsLocked"], info["DisappearingTimer"]) == (
            "Grup Toko Baru", "Promo tiap Jumat", True, True, 604800)
        photo = (await wz(client, "POST", "/wa/group/photo", token, 200,
                          data=json.dumps({"GroupJID": jid, "Image": JPEG_URI})))["data"]
        assert photo["Details"] == "Group Photo set successfully" and photo["PictureID"]

        changed = (await wz(client, "POST", "/wa/group/participants", token, 200, data=json.dumps(
            {"GroupJID": jid, "Phone": [OTHER_PHONE, "5491155554446"], "Action": "add"})))["data"]["Participants"]
        assert [(p["JID"], p["Outcome"], p["Error"]) for p in changed] == [
            (f"{OTHER_PHONE}@s.whatsapp.net", "not_on_whatsapp", 404), ("5491155554446@s.whatsapp.net", "done", 0)]

        link = (await wz(client, "GET", f"/wa/group/invitelink?groupJID={jid}", token, 200))["data"]["InviteLink"]
        preview = (await wz(client, "POST", "/wa/group/inviteinfo", token, 200,
                            data=json.dumps({"Code": link})))["data"]
        assert preview["JID"] == jid
        new_link = (await wz(client, "GET", f"/wa/group/invitelink?groupJID={jid}&reset=true", token,
                             200))["data"]["InviteLink"]
        assert new_link != link
        await wz(client, "POST", "/wa/group/inviteinfo", token, 404, data=json.dumps({"Code": link}))

        # wuzapi's refusals, in its words
        assert (await wz(client, "POST", "/wa/group/name", token, 400, data='{"Name":"x"}'))["error"] == \
            "Missing GroupJID in Payload"
        assert (await wz(client, "POST", "/wa/group/name", token, 400,
                         data='{"GroupJID":"not-a-group","Name":"x"}'))["error"] == "Could not parse Group JID"
        await wz(client, "POST", "/wa/group/ephemeral", token, 400, data=json.dumps({"GroupJID": jid,
                                                                                    "Duration": "1y"}))
        await wz(client, "POST", "/wa/group/photo", token, 400, data=json.dumps({"GroupJID": jid, "Image": "abc"}))
        await wz(client, "GET", "/wa/group/info?groupJID=120363000000000009@g.us", token, 404)

        left = await wz(client, "POST", "/wa/group/leave", token, 200, data=json.dumps({"GroupJID": jid}))
        assert left["data"] == {"Details": "Left group successfully"}
        joined = (await wz(client, "POST", "/wa/group/join", token, 200, data=json.dumps({"Code": new_link})))["data"]
        assert joined == {"Details": "Group joined successfully", "GroupJID": jid}
        async with db() as s:
            audited = list(await s.scalars(select(AuditLog.action).where(AuditLog.target_id == jid)
                                           .order_by(AuditLog.id)))
        assert audited[0] == "group.create" and audited[-2:] == ["group.leave", "group.join"]
    finally:
        await handle.stop()
