"""The group functions of neonize's Go core, played like whatsmeow's group.go, on top of `WhatsmeowDouble`.

Answers are neonize's real protobuf types (`Neonize_pb2`), built as its Go encoder builds them (encoder.go:
`EncodeGroupInfo`, `EncodeGroupParticipant`): float seconds for `GroupCreated`, the participant's `Error` code and
`AddRequest` for a number whose privacy needs an invite. Whatsmeow's refusals are its error texts: `item-not-found`
for a group the number is not in, `forbidden` for a change of a non-admin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import neonize.aioze.client as neonize_client
import pytest
from neonize.proto import Neonize_pb2 as pb

from tests.transport.whatsmeow_double import WhatsmeowDouble, jid, jid_str

NOT_FOUND = "info query returned status 404: item-not-found"
FORBIDDEN = "info query returned status 403: forbidden"


@dataclass
class GoGroup:
    info: pb.GroupInfo
    invite: str = "AbCdEfGhIjKlMnOpQrStUv"
    requests: list[str] = field(default_factory=list)
    topic_set: list[tuple[str, str, str]] = field(default_factory=list)  # (previous id, new id, topic)


def participant(phone: str, admin: bool = False, owner: bool = False, error: int = 0,
                invite: str | None = None) -> pb.GroupParticipant:
    p = pb.GroupParticipant(JID=jid(phone), LID=jid("99" + phone, "lid"), PhoneNumber=jid(phone), IsAdmin=admin,
                            IsSuperAdmin=owner, DisplayName="", Error=error)
    if invite:
        p.AddRequest.CopyFrom(pb.GroupParticipantAddRequest(Code=invite, Expiration=1_722_600_000.0))
    return p


def group_info(user: str, name: str, owner: str, members: list[pb.GroupParticipant], *,
               parent: bool = False, linked_to: str | None = None) -> pb.GroupInfo:
    # every field filled, as EncodeGroupInfo does (an unset Go JID is encoded as an empty one)
    info = pb.GroupInfo(JID=jid(user, "g.us"), OwnerJID=jid(owner), OwnerPN=jid(owner),
                        GroupName=pb.GroupName(Name=name, NameSetAt=1_722_000_000, NameSetBy=jid(owner)),
                        GroupTopic=pb.GroupTopic(Topic="", TopicID="T0", TopicSetAt=0, TopicDeleted=False,
                                                 TopicSetBy=jid("", "")),
                        GroupIncognito=pb.GroupIncognito(IsIncognito=False),
                        GroupLinkedParent=pb.GroupLinkedParent(LinkedParentJID=jid("", "")),
                        GroupIsDefaultSub=pb.GroupIsDefaultSub(IsDefaultSubGroup=False),
                        GroupLocked=pb.GroupLocked(isLocked=False),
                        GroupAnnounce=pb.GroupAnnounce(IsAnnounce=False, AnnounceVersionID=""),
                        GroupEphemeral=pb.GroupEphemeral(IsEphemeral=False, DisappearingTimer=0),
                        GroupParent=pb.GroupParent(IsParent=parent, DefaultMembershipApprovalMode=""),
                        GroupCreated=1_722_000_000.0, ParticipantVersionID="1", Participants=members)
    if linked_to:
        info.GroupLinkedParent.CopyFrom(pb.GroupLinkedParent(LinkedParentJID=jid(linked_to, "g.us")))
    return info


class WhatsmeowGroups(WhatsmeowDouble):
    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, GoGroup] = {}  # group user part → group
        self.invite_only: set[str] = set()
        self.not_on_whatsapp: set[str] = set()
        self.timers: list[tuple[str, int]] = []
        self.calls: list[str] = []

    def _me(self, uuid: bytes) -> str:
        return self.linked[self.clients[uuid].store]

    def _group(self, uuid: bytes, data: bytes, length: int, *, admin: bool = False) -> GoGroup | str:
        """The group, or whatsmeow's error text for it."""
        g = self.groups.get(pb.JID.FromString(data[:length]).User)
        me = self._me(uuid)
        found = None if g is None else next((p for p in g.info.Participants if p.PhoneNumber.User == me), None)
        if g is None or found is None:
            return NOT_FOUND
        if admin and not found.IsAdmin:
            return FORBIDDEN
        return g

    def GenerateMessageID(self, uuid: bytes) -> bytes:  # noqa: N802 - whatsmeow's "3EB0…" ids (CreateKey)
        return f"3EB0{len(self.groups):018X}".encode()

    def GetJoinedGroups(self, uuid: bytes) -> bytes:  # noqa: N802
        me = self._me(uuid)
        mine = [g.info for g in self.groups.values() if any(p.PhoneNumber.User == me for p in g.info.Participants)]
        return pb.GetJoinedGroupsReturnFunction(Group=mine).SerializeToString()

    def GetGroupInfo(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        g = self._group(uuid, data, length)
        if isinstance(g, str):
            return pb.GetGroupInfoReturnFunction(Error=g).SerializeToString()
        return pb.GetGroupInfoReturnFunction(GroupInfo=g.info).SerializeToString()

    def CreateGroup(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        request = pb.ReqCreateGroup.FromString(data[:length])
        user = f"120363{len(self.groups) + 1:012d}"
        me = self._me(uuid)
        members = [participant(me, admin=True, owner=True)]
        members += [participant(j.User) for j in request.Participants
                    if j.User not in self.invite_only and j.User not in self.not_on_whatsapp]
        linked = request.GroupLinkedParent.LinkedParentJID.User if request.HasField("GroupLinkedParent") else None
        info = group_info(user, request.name, me, members, parent=request.GroupParent.IsParent, linked_to=linked)
        self.groups[user] = GoGroup(info)
        return pb.GetGroupInfoReturnFunction(GroupInfo=info).SerializeToString()

    def UpdateGroupParticipants(self, uuid: bytes, data: bytes, length: int, jids: bytes, jids_len: int,  # noqa: N802
                                action: bytes) -> bytes:
        g = self._group(uuid, data, length, admin=True)
        if isinstance(g, str):
            return pb.UpdateGroupParticipantsReturnFunction(Error=g).SerializeToString()
        answered = []
        for person in pb.JIDArray.FromString(jids[:jids_len]).JIDS:
            present = next((p for p in g.info.Participants if p.PhoneNumber.User == person.User), None)
            if action == b"add" and person.User in self.not_on_whatsapp:
                answered.append(participant(person.User, error=404))
            elif action == b"add" and present is not None:
                answered.append(participant(person.User, error=409))
            elif action == b"add" and person.User in self.invite_only:
                answered.append(participant(person.User, error=403, invite="InViTe" + person.User[-4:]))
            elif action == b"add":
                g.info.Participants.append(participant(person.User))
                answered.append(participant(person.User, error=200))
            elif present is None:
                answered.append(participant(person.User, error=404))
            else:
                present.IsAdmin = action == b"promote" if action != b"remove" else present.IsAdmin
                if action == b"remove":
                    g.info.Participants.remove(present)
                answered.append(participant(person.User, admin=present.IsAdmin))
        return pb.UpdateGroupParticipantsReturnFunction(participants=answered).SerializeToString()

    def GetGroupRequestParticipants(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        g = self._group(uuid, data, length, admin=True)
        if isinstance(g, str):
            return pb.GetGroupRequestParticipantsReturnFunction(Error=g).SerializeToString()
        return pb.GetGroupRequestParticipantsReturnFunction(Participants=[
            pb.GroupParticipantRequest(Participant=jid(phone), TimeAt=1_722_000_500) for phone in g.requests
        ]).SerializeToString()

    def GetGroupInviteLink(self, uuid: bytes, data: bytes, length: int, revoke: bool) -> bytes:  # noqa: N802
        g = self._group(uuid, data, length, admin=True)
        if isinstance(g, str):
            return pb.GetGroupInviteLinkReturnFunction(Error=g).SerializeToString()
        if revoke:
            g.invite = g.invite[::-1]
        return pb.GetGroupInviteLinkReturnFunction(InviteLink="https://chat.whatsapp.com/" + g.invite
                                                   ).SerializeToString()

    def _by_code(self, code: bytes) -> GoGroup | None:
        wanted = code.decode().removeprefix("https://chat.whatsapp.com/")
        return next((g for g in self.groups.values() if g.invite == wanted), None)

    def JoinGroupWithLink(self, uuid: bytes, code: bytes) -> bytes:  # noqa: N802
        g = self._by_code(code)
        if g is None:
            return pb.JoinGroupWithLinkReturnFunction(Error="that group invite link is not valid").SerializeToString()
        g.info.Participants.append(participant(self._me(uuid)))
        return pb.JoinGroupWithLinkReturnFunction(Jid=g.info.JID).SerializeToString()

    def GetGroupInfoFromLink(self, uuid: bytes, code: bytes) -> bytes:  # noqa: N802
        g = self._by_code(code)
        if g is None:
            return pb.GetGroupInfoReturnFunction(Error="that group invite link is not valid").SerializeToString()
        return pb.GetGroupInfoReturnFunction(GroupInfo=g.info).SerializeToString()

    def _set(self, uuid: bytes, data: bytes, length: int, name: str, change: Any) -> bytes:
        g = self._group(uuid, data, length, admin=True)
        if isinstance(g, str):
            return g.encode()
        self.calls.append(name)
        change(g)
        return b""

    def SetGroupName(self, uuid: bytes, data: bytes, length: int, name: Any) -> bytes:  # noqa: N802
        text = name.value.decode()  # neonize passes a ctypes string buffer
        return self._set(uuid, data, length, "SetGroupName", lambda g: setattr(g.info.GroupName, "Name", text))

    def SetGroupTopic(self, uuid: bytes, data: bytes, length: int, previous: bytes, new: bytes,  # noqa: N802
                      topic: bytes) -> bytes:
        def change(g: GoGroup) -> None:
            g.topic_set.append((previous.decode(), new.decode(), topic.decode()))
            g.info.GroupTopic.Topic, g.info.GroupTopic.TopicID = topic.decode(), "T1"

        return self._set(uuid, data, length, "SetGroupTopic", change)

    def SetGroupAnnounce(self, uuid: bytes, data: bytes, length: int, on: bool) -> bytes:  # noqa: N802
        return self._set(uuid, data, length, "SetGroupAnnounce",
                         lambda g: setattr(g.info.GroupAnnounce, "IsAnnounce", bool(on)))

    def SetGroupLocked(self, uuid: bytes, data: bytes, length: int, on: bool) -> bytes:  # noqa: N802
        return self._set(uuid, data, length, "SetGroupLocked", lambda g: setattr(g.info.GroupLocked, "isLocked",
                                                                                 bool(on)))

    def SetDisappearingTimer(self, uuid: bytes, data: bytes, length: int, timer: int,  # noqa: N802
                             setting_ts: int) -> bytes:
        self.timers.append((jid_str(pb.JID.FromString(data[:length])), timer))  # a Go time.Duration: nanoseconds
        return b""

    def SetGroupPhoto(self, uuid: bytes, data: bytes, length: int, photo: bytes, photo_len: int) -> bytes:  # noqa: N802
        g = self._group(uuid, data, length, admin=True)
        if isinstance(g, str):
            return pb.SetGroupPhotoReturnFunction(Error=g).SerializeToString()
        return pb.SetGroupPhotoReturnFunction(PictureID=f"pic{photo_len}").SerializeToString()

    def LeaveGroup(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        g = self._group(uuid, data, length)
        if isinstance(g, str):
            return g.encode()
        me = self._me(uuid)
        for p in list(g.info.Participants):
            if p.PhoneNumber.User == me:
                g.info.Participants.remove(p)
        return b""

    def LinkGroup(self, uuid: bytes, parent: bytes, parent_len: int, child: bytes, child_len: int) -> bytes:  # noqa: N802
        g = self._group(uuid, child, child_len, admin=True)
        if isinstance(g, str):
            return g.encode()
        g.info.GroupLinkedParent.CopyFrom(pb.GroupLinkedParent(LinkedParentJID=pb.JID.FromString(
            parent[:parent_len])))
        return b""

    def UnlinkGroup(self, uuid: bytes, parent: bytes, parent_len: int, child: bytes, child_len: int) -> bytes:  # noqa: N802
        g = self._group(uuid, child, child_len, admin=True)
        if isinstance(g, str):
            return g.encode()
        g.info.GroupLinkedParent.LinkedParentJID.CopyFrom(jid("", ""))
        return b""

    def GetSubGroups(self, uuid: bytes, data: bytes, length: int) -> bytes:  # noqa: N802
        parent = pb.JID.FromString(data[:length]).User
        targets = [pb.GroupLinkTarget(JID=g.info.JID, GroupName=g.info.GroupName,
                                      GroupIsDefaultSub=pb.GroupIsDefaultSub(IsDefaultSubGroup=False))
                   for g in self.groups.values() if g.info.GroupLinkedParent.LinkedParentJID.User == parent]
        return pb.GetSubGroupsReturnFunction(GroupLinkTarget=targets).SerializeToString()


@pytest.fixture
async def whatsmeow_groups(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WhatsmeowGroups]:
    """`WhatsmeowGroups` in place of the Go core, as `whatsmeow_double.whatsmeow` installs its double."""
    import asyncio

    from wagate.transport.neonize import loop as transport_loop

    double = WhatsmeowGroups()
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    monkeypatch.setattr(transport_loop, "WHATSAPP_ENDPOINT", server.sockets[0].getsockname()[:2])
    monkeypatch.setattr(neonize_client, "gocode", double)
    yield double
    double.release_all()
    server.close()
    await server.wait_closed()
