"""Groups over neonize: NeonizeTransport through neonize's real Python client, with its Go core played by
`WhatsmeowGroups` (whatsmeow's group.go answers, as neonize's real protobuf types), and the group events of the Go
core (`JoinedGroup`, `GroupInfoEvent`) mapped to the gateway's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from neonize.proto import Neonize_pb2 as pb

from tests.transport.test_neonize import Events
from tests.transport.whatsmeow_double import jid
from tests.transport.whatsmeow_groups import GoGroup, WhatsmeowGroups, group_info, participant
from wagate.transport.base import Connected
from wagate.transport.groups import (
    GroupJoined,
    GroupLeft,
    GroupNotFound,
    GroupParticipantsChanged,
    GroupUpdated,
    NotGroupAdmin,
)
from wagate.transport.neonize import NeonizeTransport
from wagate.transport.neonize.groups import GroupFeatureMissing

PHONE, FRIEND, PRIVATE, ABSENT = "6281234567890", "6281311112222", "6281333334444", "6281355556666"


@pytest.fixture
async def transport(tmp_path: Path, whatsmeow_groups: WhatsmeowGroups) -> AsyncIterator[NeonizeTransport]:
    transport = NeonizeTransport(Events(), auth_dir=tmp_path, reconnect_backoff=(0.05,), stop_timeout_s=0.5)
    whatsmeow_groups.linked[str(tmp_path / "s1.sqlite3")] = PHONE
    await transport.connect("s1")
    assert isinstance(transport.sink, Events)
    await transport.sink.wait_for(Connected)
    yield transport
    await transport.close()


def events(transport: NeonizeTransport) -> Events:
    assert isinstance(transport.sink, Events)
    return transport.sink


async def test_create_list_and_change_members_with_whatsapps_answer_per_person(
    transport: NeonizeTransport, whatsmeow_groups: WhatsmeowGroups
) -> None:
    go = whatsmeow_groups
    go.invite_only.add(PRIVATE)
    go.not_on_whatsapp.add(ABSENT)
    group = await transport.create_group("s1", "Kelas 7A", [FRIEND])
    assert group.jid == "120363000000000001@g.us" and group.subject == "Kelas 7A"
    assert group.owner == f"{PHONE}@s.whatsapp.net" and group.created_at == 1_722_000_000.0
    assert [(p.jid, p.lid, p.is_admin, p.is_super_admin) for p in group.participants] == [
        (f"{PHONE}@s.whatsapp.net", f"99{PHONE}@lid", True, True),
        (f"{FRIEND}@s.whatsapp.net", f"99{FRIEND}@lid", False, False)]

    results = await transport.change_participants("s1", group.jid, "add", [PRIVATE, ABSENT, FRIEND, "6281300000001"])
    assert [(r.jid.partition("@")[0], r.outcome, r.code) for r in results] == [
        (PRIVATE, "invited", 403), (ABSENT, "not_on_whatsapp", 404), (FRIEND, "already_member", 409),
        ("6281300000001", "done", 200)]
    assert results[0].invite_code == "InViTe4444"
    assert abs((results[0].invite_expires or 0) - 1_722_600_000) < 200  # a float32 on neonize's wire
    [promoted] = await transport.change_participants("s1", group.jid, "promote", [FRIEND])
    assert promoted.outcome == "done"
    assert [g.jid for g in await transport.groups("s1")] == [group.jid]
    info = await transport.group("s1", group.jid)
    assert {p.jid: p.is_admin for p in info.participants}[f"{FRIEND}@s.whatsapp.net"]

    # subject, description (replacing the current topic id), settings, and a disappearing timer in nanoseconds
    await transport.update_group("s1", group.jid, subject="Kelas 7B", description="Piket", announce=True,
                                 locked=True, disappearing=86400)
    info = await transport.group("s1", group.jid)
    assert (info.subject, info.description, info.settings.announce, info.settings.locked) == (
        "Kelas 7B", "Piket", True, True)
    assert go.groups["120363000000000001"].topic_set == [("T0", "", "Piket")]
    assert go.timers == [("120363000000000001@g.us", 86_400_000_000_000)]
    assert await transport.set_group_picture("s1", group.jid, b"\xff\xd8jpeg") == "pic6"

    link = await transport.invite_link("s1", group.jid)
    assert link == "https://chat.whatsapp.com/AbCdEfGhIjKlMnOpQrStUv"
    assert (await transport.invite_preview("s1", link)).subject == "Kelas 7B"
    assert await transport.invite_link("s1", group.jid, reset=True) != link

    await transport.leave_group("s1", group.jid)
    assert await transport.groups("s1") == []


async def test_refusals_name_their_cause(transport: NeonizeTransport, whatsmeow_groups: WhatsmeowGroups) -> None:
    whatsmeow_groups.groups["120363999"] = GoGroup(group_info("120363999", "Arisan", FRIEND, [
        participant(FRIEND, admin=True, owner=True), participant(PHONE)]))
    with pytest.raises(NotGroupAdmin, match="forbidden"):
        await transport.update_group("s1", "120363999@g.us", subject="Mine now")
    with pytest.raises(NotGroupAdmin):
        await transport.change_participants("s1", "120363999@g.us", "remove", [FRIEND])
    with pytest.raises(GroupNotFound, match="item-not-found"):
        await transport.group("s1", "120363000000000777@g.us")
    with pytest.raises(GroupNotFound):
        await transport.join_group("s1", "https://chat.whatsapp.com/NoSuchCode")
    with pytest.raises(GroupFeatureMissing) as missing:
        await transport.update_group("s1", "120363999@g.us", subject="x", join_approval=True)
    assert missing.value.status == 501 and "SetGroupName" not in whatsmeow_groups.calls  # nothing half-done
    with pytest.raises(GroupFeatureMissing):
        await transport.answer_join_requests("s1", "120363999@g.us", "approve", [FRIEND])


async def test_communities_link_and_unlink(transport: NeonizeTransport, whatsmeow_groups: WhatsmeowGroups) -> None:
    community = await transport.create_group("s1", "Sekolah", [], community=True)
    assert community.is_community
    child = await transport.create_group("s1", "Kelas 8", [FRIEND], parent=community.jid)
    assert child.community == community.jid
    other = await transport.create_group("s1", "Kelas 9", [])
    await transport.link_group("s1", community.jid, other.jid)
    linked = await transport.community_groups("s1", community.jid)
    assert sorted((g.jid, g.subject) for g in linked) == [(child.jid, "Kelas 8"), (other.jid, "Kelas 9")]
    await transport.unlink_group("s1", community.jid, other.jid)
    assert [g.jid for g in await transport.community_groups("s1", community.jid)] == [child.jid]
    assert whatsmeow_groups.groups[child.jid.partition("@")[0]].info.GroupLinkedParent.LinkedParentJID.User == (
        community.jid.partition("@")[0])


async def test_group_events_from_the_go_core(transport: NeonizeTransport, whatsmeow_groups: WhatsmeowGroups) -> None:
    uuid = transport.client("s1").uuid
    info = group_info("120363555", "Warga RT 05", FRIEND, [participant(FRIEND, admin=True, owner=True),
                                                            participant(PHONE)])
    whatsmeow_groups.deliver(uuid, pb.JoinedGroup(Reason="add", Type="add", CreateKey="", GroupInfo=info))
    [joined] = await events(transport).wait_for(GroupJoined)
    assert (joined.group.jid, joined.group.subject, joined.reason) == ("120363555@g.us", "Warga RT 05", "add")

    # one notification, several changes: a LID-addressed join, a promotion, a new subject and announce mode
    whatsmeow_groups.lid_map["77001@lid"] = "6281300000001@s.whatsapp.net"
    whatsmeow_groups.deliver(uuid, pb.GroupInfoEvent(
        JID=jid("120363555", "g.us"), Sender=jid(FRIEND), Timestamp=1_722_000_900,
        Join=[jid("77001", "lid")], Promote=[jid(PHONE)],
        Name=pb.GroupName(Name="Warga RT 06", NameSetAt=1_722_000_900, NameSetBy=jid(FRIEND)),
        Announce=pb.GroupAnnounce(IsAnnounce=True, AnnounceVersionID="2"), NewInviteLink=""))
    changed = await events(transport).wait_for(GroupParticipantsChanged, 2)
    assert [(c.action, c.participants, c.by, c.timestamp) for c in changed] == [
        ("added", ("6281300000001@s.whatsapp.net",), f"{FRIEND}@s.whatsapp.net", 1_722_000_900.0),
        ("promoted", (f"{PHONE}@s.whatsapp.net",), f"{FRIEND}@s.whatsapp.net", 1_722_000_900.0)]
    [updated] = await events(transport).wait_for(GroupUpdated)
    assert updated.changes == {"subject": "Warga RT 06", "announce": True} and updated.jid == "120363555@g.us"

    # the session's own number removed (named by its LID): the group is left, not a member change
    whatsmeow_groups.deliver(uuid, pb.GroupInfoEvent(JID=jid("120363555", "g.us"), Sender=jid(FRIEND),
                                                     Timestamp=1_722_001_000, Leave=[jid("99" + PHONE, "lid")]))
    [left] = await events(transport).wait_for(GroupLeft)
    assert (left.jid, left.by) == ("120363555@g.us", f"{FRIEND}@s.whatsapp.net")
    assert len([e for e in events(transport).seen if isinstance(e, GroupParticipantsChanged)]) == 2


async def test_a_group_text_mentions_members_and_everyone(transport: NeonizeTransport,
                                                         whatsmeow_groups: WhatsmeowGroups) -> None:
    whatsmeow_groups.groups["120363777"] = GoGroup(group_info("120363777", "Tim", PHONE, [
        participant(PHONE, admin=True, owner=True), participant(FRIEND)]))
    await transport.send_text("s1", "120363777@g.us", f"@{FRIEND} cek ya, juga @6289900000000")
    await transport.send_text("s1", "120363777@g.us", "Rapat @everyone")
    await transport.send_text("s1", "120363777@g.us", "tanpa sebutan")
    [(to, one), (_, every), (_, plain)] = whatsmeow_groups.sent
    assert to == "120363777@g.us"
    assert one.extendedTextMessage.text == f"@{FRIEND} cek ya, juga @6289900000000"
    assert list(one.extendedTextMessage.contextInfo.mentionedJID) == [f"{FRIEND}@s.whatsapp.net"]
    assert list(every.extendedTextMessage.contextInfo.mentionedJID) == [f"{PHONE}@s.whatsapp.net",
                                                                        f"{FRIEND}@s.whatsapp.net"]
    assert plain.conversation == "tanpa sebutan" and not plain.HasField("extendedTextMessage")
