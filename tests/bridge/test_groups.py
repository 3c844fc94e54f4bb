"""Groups and communities through a real arq bridge and Redis on the simulator: each operation a call to the
session's connection, each change WhatsApp reports an event (and so a webhook), every change audited."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, sent_by, wait_message
from tests.services.webhook_receiver import FAST, listening, running_worker
from wagate.config import Settings
from wagate.db.enums import ActorType, MessageStatus
from wagate.db.models_identity import AuditLog
from wagate.errors import Conflict, Invalid, OtherTenant
from wagate.services.groups import operations
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.services.sessions.lifecycle import Actor
from wagate.transport.groups import GroupJoinPending, GroupNotFound, NotGroupAdmin

OWNER = "6281234567890"
OTHER = "6281298765432"
FRIEND, PRIVATE, ABSENT, NEWBIE = "6281311112222", "6281333334444", "6281355556666", "6281377778888"
ACTOR = Actor(ActorType.USER, 7, "127.0.0.1")
Db = async_sessionmaker[AsyncSession]


async def _change(db: Db, redis: ArqRedis, settings: Settings, name: str, params: dict[str, Any],
                  session_id: str = "s1") -> Any:
    return await operations.change(db, redis, settings, session_id, name, params, tenant_id=None, actor=ACTOR)


async def _read(db: Db, redis: ArqRedis, settings: Settings, name: str, params: dict[str, Any] | None = None,
                session_id: str = "s1") -> Any:
    return await operations.read(db, redis, settings, session_id, name, params, tenant_id=None)


async def test_create_manage_and_hear_a_group(db: Db, arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
                                              event_log: EventLog) -> None:
    await add_session(db, "s1")
    await link_session(running, db, arq_redis, settings, "s1", phone=OWNER)
    sim = running.sim
    sim.set_not_on_whatsapp(ABSENT)
    await sim.group_privacy("s1", PRIVATE)

    participants = operations.participant_jids([FRIEND, f"+{PRIVATE}", f"{ABSENT}@s.whatsapp.net"], settings)
    group = await _change(db, arq_redis, settings, "groups.create", {"subject": "Kelas 7A",
                                                                     "participants": participants})
    assert isinstance(group, dict)
    jid = group["jid"]
    members = {p["jid"]: p for p in group["participants"]}
    assert set(members) == {f"{OWNER}@s.whatsapp.net", f"{FRIEND}@s.whatsapp.net"}
    assert members[f"{OWNER}@s.whatsapp.net"]["is_super_admin"] and not members[f"{FRIEND}@s.whatsapp.net"]["is_admin"]
    joined = await event_log.wait_for(lambda e: e["event"] == "group.joined")
    assert joined["data"]["jid"] == jid and joined["data"]["reason"] == "create"

    # per participant: added, invited (privacy), not on WhatsApp, already a member
    results = await _change(db, arq_redis, settings, "groups.participants", {
        "jid": jid, "action": "add", "participants": participants})
    outcomes = {r["jid"].partition("@")[0]: r["outcome"] for r in results}
    assert outcomes == {FRIEND: "already_member", PRIVATE: "invited", ABSENT: "not_on_whatsapp"}
    invited = next(r for r in results if r["outcome"] == "invited")
    assert invited["code"] == 403 and invited["invite_code"]

    await _change(db, arq_redis, settings, "groups.participants", {
        "jid": jid, "action": "promote", "participants": [f"{FRIEND}@s.whatsapp.net"]})
    promoted = await event_log.wait_for(lambda e: e["event"] == "group.participants"
                                        and e["data"]["action"] == "promoted")
    assert promoted["data"] == {"jid": jid, "action": "promoted", "participants": [f"{FRIEND}@s.whatsapp.net"],
                                "by": f"{OWNER}@s.whatsapp.net"}

    await _change(db, arq_redis, settings, "groups.update", {"jid": jid, "subject": "Kelas 7B", "announce": True,
                                                             "disappearing": 604800})
    updated = await event_log.wait_for(lambda e: e["event"] == "group.updated")
    assert updated["data"]["changes"] == {"subject": "Kelas 7B", "announce": True, "disappearing": 604800}
    info = await _read(db, arq_redis, settings, "groups.get", {"jid": jid})
    assert isinstance(info, dict)
    assert info["subject"] == "Kelas 7B" and info["settings"]["announce"] and info["settings"]["disappearing"] == 604800

    # other members' actions reach the session as events naming who did them
    await sim.group_member_action("s1", jid, FRIEND, "add", [NEWBIE])
    added = await event_log.wait_for(lambda e: e["event"] == "group.participants" and e["data"]["action"] == "added")
    assert added["data"] == {"jid": jid, "action": "added", "participants": [f"{NEWBIE}@s.whatsapp.net"],
                             "by": f"{FRIEND}@s.whatsapp.net"}
    await sim.group_member_update("s1", jid, FRIEND, description="Jadwal piket di sini")
    described = await event_log.wait_for(lambda e: e["event"] == "group.updated"
                                         and e["data"]["by"] == f"{FRIEND}@s.whatsapp.net")
    assert described["data"]["changes"] == {"description": "Jadwal piket di sini"}

    await _change(db, arq_redis, settings, "groups.leave", {"jid": jid})
    left = await event_log.wait_for(lambda e: e["event"] == "group.left")
    assert left["data"] == {"jid": jid, "by": f"{OWNER}@s.whatsapp.net"}
    assert await _read(db, arq_redis, settings, "groups.list") == []
    try:
        await _read(db, arq_redis, settings, "groups.get", {"jid": jid})
        raise AssertionError("a group the number left was answered")
    except GroupNotFound as exc:
        assert exc.status == 404

    async with db() as s:
        actions = list(await s.scalars(select(AuditLog.action).where(AuditLog.target_id == jid)))
    assert actions == ["group.create", "group.participants", "group.participants", "group.update", "group.leave"]


async def test_admin_rules_invites_and_join_approval(db: Db, arq_redis: ArqRedis, settings: Settings,
                                                     running: RunningBridge, event_log: EventLog) -> None:
    await add_session(db, "s1")
    await add_session(db, "s2")
    await link_session(running, db, arq_redis, settings, "s1", phone=OWNER)
    await link_session(running, db, arq_redis, settings, "s2", phone=OTHER)
    # someone else's group the session was added to: a member, not an admin
    jid = await running.sim.group_add_session("s1", FRIEND, "Warga RT 05", members=[OTHER])
    joined = await event_log.wait_for(lambda e: e["event"] == "group.joined" and e["session"] == "s1")
    assert joined["data"]["by"] == f"{FRIEND}@s.whatsapp.net" and joined["data"]["subject"] == "Warga RT 05"
    for name, params in (("groups.update", {"jid": jid, "announce": True}),
                         ("groups.participants", {"jid": jid, "action": "add",
                                                  "participants": [f"{PRIVATE}@s.whatsapp.net"]}),
                         ("groups.invite_link", {"jid": jid})):
        try:
            await _change(db, arq_redis, settings, name, params)
            raise AssertionError(f"{name} by a plain member was done")
        except NotGroupAdmin as exc:
            assert exc.status == 403

    own = await _change(db, arq_redis, settings, "groups.create", {"subject": "Tim Gudang", "participants": []})
    assert isinstance(own, dict)
    link = await _change(db, arq_redis, settings, "groups.invite_link", {"jid": own["jid"]})
    assert isinstance(link, str) and link.startswith("https://chat.whatsapp.com/")
    preview = await _read(db, arq_redis, settings, "groups.preview", {"code": operations.invite_code(link)},
                          session_id="s2")
    assert isinstance(preview, dict) and preview["subject"] == "Tim Gudang"
    new_link = await _change(db, arq_redis, settings, "groups.invite_link", {"jid": own["jid"], "reset": True})
    try:
        await _change(db, arq_redis, settings, "groups.join", {"code": operations.invite_code(str(link))},
                      session_id="s2")
        raise AssertionError("a revoked link still let someone in")
    except GroupNotFound:
        pass

    await _change(db, arq_redis, settings, "groups.update", {"jid": own["jid"], "join_approval": True})
    try:
        await _change(db, arq_redis, settings, "groups.join", {"code": operations.invite_code(str(new_link))},
                      session_id="s2")
        raise AssertionError("a group with join approval let someone in")
    except GroupJoinPending as exc:
        assert exc.status == 409
    requests = await _read(db, arq_redis, settings, "groups.requests", {"jid": own["jid"]})
    assert [r["jid"] for r in requests] == [f"{OTHER}@s.whatsapp.net"]
    answered = await _change(db, arq_redis, settings, "groups.answer_requests", {
        "jid": own["jid"], "action": "approve", "participants": [f"{OTHER}@s.whatsapp.net"]})
    assert [r["outcome"] for r in answered] == ["done"]
    await event_log.wait_for(lambda e: e["event"] == "group.joined" and e["session"] == "s2"
                             and e["data"]["jid"] == own["jid"])
    added = await event_log.wait_for(lambda e: e["event"] == "group.participants" and e["session"] == "s1"
                                     and e["data"]["action"] == "added")
    assert added["data"]["participants"] == [f"{OTHER}@s.whatsapp.net"]
    assert {g["jid"] for g in await _read(db, arq_redis, settings, "groups.list", session_id="s2")} == {
        jid, own["jid"]}

    await _change(db, arq_redis, settings, "groups.leave", {"jid": own["jid"]}, session_id="s2")
    await event_log.wait_for(lambda e: e["event"] == "group.left" and e["session"] == "s2")
    gone = await event_log.wait_for(lambda e: e["event"] == "group.participants" and e["data"]["action"] == "removed")
    assert gone["data"]["by"] == f"{OTHER}@s.whatsapp.net"

    await running.sim.group_member_action("s1", jid, FRIEND, "remove", [OWNER])
    removed = await event_log.wait_for(lambda e: e["event"] == "group.left" and e["session"] == "s1")
    assert removed["data"] == {"jid": jid, "by": f"{FRIEND}@s.whatsapp.net"}


async def test_communities_and_sending_to_a_group(db: Db, arq_redis: ArqRedis, settings: Settings,
                                                  running: RunningBridge) -> None:
    await add_session(db, "s1")
    await link_session(running, db, arq_redis, settings, "s1", phone=OWNER)
    community = await _change(db, arq_redis, settings, "groups.create", {"subject": "Sekolah", "participants": [],
                                                                         "community": True})
    group = await _change(db, arq_redis, settings, "groups.create", {"subject": "Kelas 8", "participants": [
        f"{FRIEND}@s.whatsapp.net"]})
    assert isinstance(community, dict) and isinstance(group, dict) and community["is_community"]
    await _change(db, arq_redis, settings, "groups.link", {"community": community["jid"], "jid": group["jid"]})
    linked = await _read(db, arq_redis, settings, "groups.community_groups", {"community": community["jid"]})
    assert [(g["jid"], g["subject"]) for g in linked] == [(group["jid"], "Kelas 8")]
    info = await _read(db, arq_redis, settings, "groups.get", {"jid": group["jid"]})
    assert isinstance(info, dict) and info["community"] == community["jid"]
    await _change(db, arq_redis, settings, "groups.unlink", {"community": community["jid"], "jid": group["jid"]})
    assert await _read(db, arq_redis, settings, "groups.community_groups", {"community": community["jid"]}) == []

    # a group JID goes through the normal send path
    queued = await queue_message(db, arq_redis, settings, SendRequest(session_id="s1", to=group["jid"],
                                                                      text="Rapat jam 3"))
    sent = await wait_message(db, queued.message.id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    assert sent.chat_jid == group["jid"]
    assert [(m.to, m.text, m.mentions) for m in sent_by(running.sim, "s1")] == [(group["jid"], "Rapat jam 3", ())]

    # "@<member>" mentions that member, "@everyone" every member; a number outside the group stays text
    for text in (f"@{FRIEND} tolong cek, cc @6289900000000", "Rapat dimulai @everyone"):
        queued = await queue_message(db, arq_redis, settings, SendRequest(session_id="s1", to=group["jid"], text=text))
        await wait_message(db, queued.message.id, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
    assert [m.mentions for m in sent_by(running.sim, "s1")[1:]] == [
        (f"{FRIEND}@s.whatsapp.net",), (f"{OWNER}@s.whatsapp.net", f"{FRIEND}@s.whatsapp.net")]


async def test_refusals_before_whatsapp_is_asked(db: Db, arq_redis: ArqRedis, settings: Settings,
                                                 running: RunningBridge) -> None:
    tenant_a = None
    await add_session(db, "s1", tenant=tenant_a)
    try:
        await _read(db, arq_redis, settings, "groups.list")
        raise AssertionError("a STOPPED session was asked")
    except Conflict as exc:
        assert "STOPPED" in exc.message
    try:
        await operations.read(db, arq_redis, settings, "s1", "groups.list", tenant_id=99)
        raise AssertionError("another tenant's session was asked")
    except OtherTenant:
        pass
    for bad in ("", "abc@g.us", "123@s.whatsapp.net"):
        try:
            operations.group_jid(bad)
            raise AssertionError(f"{bad!r} taken for a group")
        except Invalid:
            pass
    assert operations.group_jid("120363012345678901") == "120363012345678901@g.us"
    try:
        operations.participant_jids(["120363012345678901@g.us"], settings)
        raise AssertionError("a group taken for a participant")
    except Invalid as exc:
        assert "participants.0" in exc.details
    assert operations.invite_code("https://chat.whatsapp.com/AbCdEf123456") == "AbCdEf123456"


@pytest.mark.parametrize("bridge_env", [FAST])
async def test_group_events_reach_a_sessions_webhook(db: Db, arq_redis: ArqRedis, settings: Settings,
                                                     running: RunningBridge) -> None:
    """Through the real worker: the session's webhook, subscribed to two group events, gets exactly those."""
    async with listening() as receiver, running_worker(settings):
        await add_session(db, "s1", webhook_url=receiver.url,
                          webhook_events=["group.participants", "group.left"])
        await link_session(running, db, arq_redis, settings, "s1", phone=OWNER)
        jid = await running.sim.group_add_session("s1", FRIEND, "Arisan", members=[OTHER])
        await running.sim.group_member_action("s1", jid, FRIEND, "promote", [OTHER])
        await running.sim.group_member_update("s1", jid, FRIEND, subject="Arisan Bulanan")  # not subscribed
        await running.sim.group_member_action("s1", jid, FRIEND, "remove", [OWNER])
        hooks = await receiver.wait_for(2, timeout_s=20)
        bodies = [json.loads(h.body) for h in hooks]
        assert [(b["event"], b["session"]) for b in bodies] == [("group.participants", "s1"), ("group.left", "s1")]
        assert bodies[0]["data"] == {"jid": jid, "action": "promoted", "participants": [f"{OTHER}@s.whatsapp.net"],
                                     "by": f"{FRIEND}@s.whatsapp.net"}
        assert bodies[1]["data"] == {"jid": jid, "by": f"{FRIEND}@s.whatsapp.net"}
        assert all(h.headers["X-WAGate-Event"] == b["event"] for h, b in zip(hooks, bodies, strict=True))
        await asyncio.sleep(1.0)  # group.joined and group.updated were published too, and are not delivered
        assert len(receiver.requests) == 2
