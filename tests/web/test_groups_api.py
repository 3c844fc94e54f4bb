"""The group and community API over real HTTP, answered by a real bridge (arq on Valkey) driving the simulator:
role rules (a user-role caller only reads), the one error shape, and the other members' side through the
simulator's routes."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.web.identities import add_key, bearer
from tests.web.tenancy import tenant
from tests.workers import InLoopWorker, start_in_loop
from wagate.config import Settings
from wagate.db.enums import ActorType, Role, SessionStatus
from wagate.db.models_identity import AuditLog
from wagate.services.sessions import lifecycle
from wagate.web.app import create_app
from wagate.web.keys import REDIS, SETTINGS
from workers.bridge import create_bridge

Db = async_sessionmaker[AsyncSession]
OWNER, FRIEND, PRIVATE = "6281234567890", "6281311112222", "6281333334444"
JPEG = b"\xff\xd8\xff\xe0" + bytes(60)


@pytest.fixture
async def web(aiohttp_client: Any, settings: Settings, db: Db) -> AsyncIterator[TestClient]:
    """The app and a bridge; session "g1" linked to OWNER through the simulator's scan route."""
    fast = settings.replace(simulator_speed=20.0)
    client: TestClient = await aiohttp_client(create_app(fast))
    bridge: InLoopWorker = await start_in_loop(create_bridge(fast, 0, handle_signals=False),
                                               lambda w: "bridge" in w.ctx)
    try:
        await _linked(client, db, "g1", OWNER)
        yield client
    finally:
        await bridge.stop()


async def _linked(client: TestClient, db: Db, session_id: str, phone: str, tenant_id: int | None = None) -> None:
    """Create the session (it starts and shows a QR code), then the simulated phone scans it: WORKING."""
    await lifecycle.create_session(db, client.app[REDIS], client.app[SETTINGS], tenant_id=tenant_id,
                                  session_id=session_id, name=session_id,
                                  actor=lifecycle.Actor(ActorType.SYSTEM, "test"))
    for _ in range(200):
        if await lifecycle.current_qr(client.app[REDIS], session_id):
            break
        await asyncio.sleep(0.05)
    response = await client.post(f"/simulator/sessions/{session_id}/scan", json={"phone": phone})
    assert response.status == 202 and (await response.json())["data"]["done"], await response.text()


async def _keys(db: Db) -> dict[Role, dict[str, str]]:
    return {role: bearer((await add_key(db, role))[1]) for role in (Role.ADMIN, Role.OPERATOR, Role.USER)}


async def _ok(response: Any, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    assert body["success"] is True
    return body["data"]


async def _refused(response: Any, status: int) -> dict[str, Any]:
    body: dict[str, Any] = await response.json()
    assert response.status == status, body
    assert body["success"] is False and body["message"] and set(body) == {"success", "message", "details"}
    return body


async def test_operators_manage_groups_users_only_read(web: TestClient, db: Db) -> None:
    keys = await _keys(db)
    base = "/api/sessions/g1/groups"
    await _ok(await web.post("/simulator/sessions/g1/groups/privacy", json={"phone": PRIVATE}), 202)

    body = {"subject": "Pelanggan VIP", "participants": [FRIEND, f"+{PRIVATE}"]}
    await _refused(await web.post(base, json=body, headers=keys[Role.USER]), 403)
    group = await _ok(await web.post(base, json=body, headers=keys[Role.OPERATOR]), 201)
    jid = group["jid"]
    assert group["subject"] == "Pelanggan VIP" and group["participant_count"] == 2
    assert {p["phone"]: p["is_admin"] for p in group["participants"]} == {OWNER: True, FRIEND: False}

    listed = await _ok(await web.get(base, headers=keys[Role.USER]))
    assert [g["jid"] for g in listed] == [jid]
    seen_by_user = await _ok(await web.get(f"{base}/{jid}", headers=keys[Role.USER]))
    assert seen_by_user["invite_link"] is None  # an invite link lets anyone in: not for view-only callers
    seen = await _ok(await web.get(f"{base}/{jid.partition('@')[0]}", headers=keys[Role.OPERATOR]))
    assert seen["invite_link"].startswith("https://chat.whatsapp.com/")

    results = await _ok(await web.post(f"{base}/{jid}/participants", headers=keys[Role.OPERATOR],
                                       json={"action": "add", "participants": [PRIVATE, FRIEND]}))
    assert [(r["jid"], r["outcome"]) for r in results] == [
        (f"{PRIVATE}@s.whatsapp.net", "invited"), (f"{FRIEND}@s.whatsapp.net", "already_member")]
    for method, path, payload in (
            ("PUT", f"{base}/{jid}", {"announce": True}),
            ("POST", f"{base}/{jid}/participants", {"action": "promote", "participants": [FRIEND]}),
            ("PUT", f"{base}/{jid}/picture", {"image": base64.b64encode(JPEG).decode()}),
            ("POST", f"{base}/{jid}/invite/revoke", None),
            ("GET", f"{base}/{jid}/invite", None),
            ("POST", f"{base}/{jid}/leave", None)):
        await _refused(await web.request(method, path, json=payload, headers=keys[Role.USER]), 403)

    changed = await _ok(await web.put(f"{base}/{jid}", headers=keys[Role.OPERATOR],
                                      json={"subject": "Pelanggan Gold", "locked": True, "disappearing": 86400}))
    assert changed["subject"] == "Pelanggan Gold"
    assert changed["settings"] == {"announce": False, "locked": True, "join_approval": False, "disappearing": 86400}
    picture = await _ok(await web.put(f"{base}/{jid}/picture", headers=keys[Role.OPERATOR],
                                      json={"image": "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()}))
    assert picture["picture_id"]

    # another admin's change, through the simulator's route, shows in the next read
    await _ok(await web.post(f"{base}/{jid}/participants", headers=keys[Role.OPERATOR],
                             json={"action": "promote", "participants": [FRIEND]}))
    await _ok(await web.post("/simulator/sessions/g1/groups/member-action", json={
        "group": jid, "from": FRIEND, "action": "add", "participants": ["6281399990000"]}), 202)
    members = await _ok(await web.get(f"{base}/{jid}", headers=keys[Role.USER]))
    assert "6281399990000" in {p["phone"] for p in members["participants"]}

    left = await _ok(await web.post(f"{base}/{jid}/leave", headers=keys[Role.ADMIN]))
    assert left == {"jid": jid}
    await _refused(await web.get(f"{base}/{jid}", headers=keys[Role.USER]), 404)
    async with db() as s:
        audited = list(await s.scalars(select(AuditLog.action).where(AuditLog.target_id == jid)
                                       .order_by(AuditLog.id)))
    assert audited == ["group.create", "group.participants", "group.update", "group.picture", "group.participants",
                       "group.leave"]


async def test_bad_input_and_states_are_refused_with_what_to_fix(web: TestClient, db: Db) -> None:
    keys = await _keys(db)
    base = "/api/sessions/g1/groups"
    bad = await _refused(await web.post(base, json={"subject": "", "participants": []}, headers=keys[Role.ADMIN]),
                         400)
    assert "subject" in bad["details"]
    bad = await _refused(await web.post(base, json={"subject": "x", "participants": ["120363000000000001@g.us"]},
                                        headers=keys[Role.ADMIN]), 400)
    assert "participants.0" in bad["details"]
    bad = await _refused(await web.put(f"{base}/120363000000000001@g.us", json={}, headers=keys[Role.ADMIN]), 400)
    assert "_schema" in bad["details"]
    bad = await _refused(await web.put(f"{base}/120363000000000001@g.us", json={"disappearing": 5},
                                       headers=keys[Role.ADMIN]), 400)
    assert "disappearing" in bad["details"]
    bad = await _refused(await web.put(f"{base}/120363000000000001@g.us/picture", json={"image": "aGVsbG8="},
                                       headers=keys[Role.ADMIN]), 400)
    assert "image" in bad["details"]
    bad = await _refused(await web.post(f"{base}/join", json={"link": "https://example.com/x y"},
                                        headers=keys[Role.ADMIN]), 400)
    assert "link" in bad["details"]
    await _refused(await web.get(f"{base}/120363000000000001@g.us", headers=keys[Role.ADMIN]), 404)

    # someone else's group: the number is a member, not an admin
    await _ok(await web.post("/simulator/sessions/g1/groups/added", json={
        "from": FRIEND, "subject": "Arisan", "group": "120363111111111111@g.us"}), 202)
    refused = await _refused(await web.put(f"{base}/120363111111111111@g.us", json={"announce": True},
                                           headers=keys[Role.ADMIN]), 403)
    assert "admin" in refused["message"]
    seen = await _ok(await web.get(f"{base}/120363111111111111@g.us", headers=keys[Role.OPERATOR]))
    assert seen["invite_link"] is None and seen["owner"] == f"{FRIEND}@s.whatsapp.net"

    await lifecycle.request(db, web.app[REDIS], web.app[SETTINGS], "g1", "stop",
                            actor=lifecycle.Actor(ActorType.SYSTEM, "test"))
    for _ in range(100):
        if (await lifecycle.get_session(db, "g1")).status == SessionStatus.STOPPED:
            break
        await asyncio.sleep(0.05)
    stopped = await _refused(await web.get(base, headers=keys[Role.USER]), 409)
    assert "connect it first" in stopped["message"]



async def test_communities_invites_and_join_requests(web: TestClient, db: Db) -> None:
    keys = await _keys(db)
    op, user = keys[Role.OPERATOR], keys[Role.USER]
    communities = "/api/sessions/g1/communities"
    await _refused(await web.post(communities, json={"subject": "Alumni"}, headers=user), 403)
    community = await _ok(await web.post(communities, json={"subject": "Alumni", "description": "Angkatan 2010"},
                                         headers=op), 201)
    assert community["is_community"] and community["description"] == "Angkatan 2010"
    group = await _ok(await web.post("/api/sessions/g1/groups", headers=op, json={
        "subject": "Alumni IPA", "participants": [FRIEND], "community": community["jid"]}), 201)
    assert group["community"] == community["jid"]
    assert [c["jid"] for c in await _ok(await web.get(communities, headers=user))] == [community["jid"]]
    assert [g["jid"] for g in await _ok(await web.get("/api/sessions/g1/groups", headers=user))] == [group["jid"]]
    other = await _ok(await web.post("/api/sessions/g1/groups", headers=op, json={"subject": "Alumni IPS"}), 201)
    linked_path = f"{communities}/{community['jid']}/groups"
    await _refused(await web.post(linked_path, json={"group": other["jid"]}, headers=user), 403)
    await _ok(await web.post(linked_path, json={"group": other["jid"]}, headers=op))
    linked = await _ok(await web.get(linked_path, headers=user))
    assert sorted(g["subject"] for g in linked) == ["Alumni IPA", "Alumni IPS"]
    await _ok(await web.delete(f"{linked_path}/{other['jid']}", headers=op))
    assert [g["subject"] for g in await _ok(await web.get(linked_path, headers=user))] == ["Alumni IPA"]
    await _refused(await web.delete(f"{linked_path}/{other['jid']}", headers=op), 404)

    # invite: preview and join from a second session; join approval turns a join into a request
    invite = (await _ok(await web.get(f"/api/sessions/g1/groups/{other['jid']}/invite", headers=op)))["invite_link"]
    await _linked(web, db, "g2", FRIEND)
    preview = await _ok(await web.get("/api/sessions/g2/groups/preview", params={"link": invite}, headers=user))
    assert preview["subject"] == "Alumni IPS"
    await _ok(await web.put(f"/api/sessions/g1/groups/{other['jid']}", json={"join_approval": True}, headers=op))
    pending = await _refused(await web.post("/api/sessions/g2/groups/join", json={"link": invite}, headers=op), 409)
    assert "approve" in pending["message"]
    requests = await _ok(await web.get(f"/api/sessions/g1/groups/{other['jid']}/requests", headers=user))
    assert [r["jid"] for r in requests] == [f"{FRIEND}@s.whatsapp.net"]
    answered = await _ok(await web.post(f"/api/sessions/g1/groups/{other['jid']}/requests", headers=op,
                                        json={"action": "approve", "participants": [FRIEND]}))
    assert [r["outcome"] for r in answered] == ["done"]
    joined = await _ok(await web.get(f"/api/sessions/g2/groups/{other['jid']}", headers=user))
    assert FRIEND in {p["phone"] for p in joined["participants"]}
    revoked = await _ok(await web.post(f"/api/sessions/g1/groups/{other['jid']}/invite/revoke", headers=op))
    assert revoked["invite_link"] != invite
    await _refused(await web.get("/api/sessions/g2/groups/preview", params={"link": invite}, headers=user), 404)


async def test_the_customer_api_mirrors_groups_for_its_tenant_only(web: TestClient, db: Db) -> None:
    tenant_id, customer_key = await tenant(db, "usr_groups")
    other_id, other_key = await tenant(db, "usr_other")
    await _linked(web, db, "c1", "6281200000099", tenant_id=tenant_id)
    mine = {"x-api-key": customer_key}
    created = await web.post("/v1/sessions/c1/groups", headers=mine, json={"subject": "Reseller", "participants": [
        FRIEND]})
    assert created.status == 201, await created.text()
    group = (await created.json())["group"]
    listed = await (await web.get("/v1/sessions/c1/groups", headers=mine)).json()
    assert listed["count"] == 1 and listed["groups"][0]["jid"] == group["jid"]
    changed = await web.post(f"/v1/sessions/c1/groups/{group['jid']}/participants", headers=mine,
                             json={"action": "promote", "participants": [FRIEND]})
    assert changed.status == 200 and [r["outcome"] for r in (await changed.json())["results"]] == ["done"]

    # another tenant's key: as if the session did not exist; a user-role key of the tenant: reads only
    theirs = {"x-api-key": other_key}
    await _refused(await web.get("/v1/sessions/c1/groups", headers=theirs), 404)
    await _refused(await web.post("/v1/sessions/c1/groups", headers=theirs, json={"subject": "x"}), 404)
    _, user_key = await add_key(db, Role.USER, tenant_id=tenant_id)
    viewer = {"x-api-key": user_key}
    assert (await web.get("/v1/sessions/c1/groups", headers=viewer)).status == 200
    refused = await _refused(await web.post("/v1/sessions/c1/groups", headers=viewer, json={"subject": "x"}), 403)
    assert refused["message"] == "Permission denied: send_message required"
    assert other_id != tenant_id
