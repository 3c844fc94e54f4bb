"""Groups and communities over neonize 0.5.2 (whatsmeow's group.go), and the group events of its Go core.

What neonize 0.5.2 cannot do, because its Go core exports no function for it: approve or reject requests to join
(whatsmeow's UpdateGroupRequestParticipants) and switch join approval on or off (SetGroupJoinApprovalMode). Those
answer `GroupFeatureMissing` (501) naming the missing capability; listing the requests works.

Quirks of neonize's Go core handled here (goneonize/main.go, utils/encoder.go at fcd96cb):
- `SetDisappearingTimer` reads its timer as a Go `time.Duration` (nanoseconds), while neonize's Python turns a
  `timedelta` into milliseconds: the timer is passed as an int of nanoseconds.
- `JoinedGroup` carries no sender (the encoder leaves it out): who added the number is not known there.
- `GroupCreated` and an invite's `Expiration` come as float seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from wagate.errors import TransportError
from wagate.transport.base import Account, TransportEvent
from wagate.transport.groups import (
    Group,
    GroupJoined,
    GroupJoinPending,
    GroupLeft,
    GroupNotFound,
    GroupParticipant,
    GroupParticipantsChanged,
    GroupSettings,
    GroupUpdated,
    JoinRequest,
    NotGroupAdmin,
    ParticipantAction,
    ParticipantOutcome,
    ParticipantResult,
    RequestAction,
    mentioned,
)
from wagate.transport.neonize.errors import transport_error
from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.neonize.session import EventHandler, NeonizeBase, SessionState

if TYPE_CHECKING:
    from neonize.aioze.client import NewAClient
    from neonize.proto.Neonize_pb2 import JID

_NOT_FOUND = ("item-not-found", "not found", "not participating", "404", "invite link is not valid",
              "has been revoked", "gone")
_NOT_ADMIN = ("forbidden", "not-authorized", "unauthorized", "403", "401", "not-admin")


class GroupFeatureMissing(TransportError):
    """The WhatsApp library this gateway runs on has no way to do it (not WhatsApp's refusal)."""

    status = 501
    permanent = True


def group_error(exc: Exception) -> TransportError:
    """Our error for a failed group call, judged from whatsmeow's error text."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "pending" in lowered or "approval" in lowered:  # whatsmeow: the join waits for the admins
        return GroupJoinPending(f"WhatsApp answered: {text}")
    if any(s in lowered for s in _NOT_ADMIN):
        return NotGroupAdmin(f"WhatsApp refused: {text}")
    if any(s in lowered for s in _NOT_FOUND):
        return GroupNotFound(f"WhatsApp answered: {text}")
    return transport_error(exc)


def jid_str(jid: Any) -> str | None:
    return f"{jid.User}@{jid.Server}" if jid is not None and jid.User else None


def _phone_jid(participant: Any) -> str:
    """A participant's phone-number JID where WhatsApp gave one, its LID otherwise."""
    return jid_str(participant.PhoneNumber) or jid_str(participant.JID) or ""


def group_from_info(info: Any) -> Group:
    """A `Group` from neonize's `GroupInfo`."""
    participants = tuple(
        GroupParticipant(jid=_phone_jid(p), lid=jid_str(p.LID) or (jid_str(p.JID) if p.JID.Server == "lid" else None),
                         is_admin=p.IsAdmin or p.IsSuperAdmin, is_super_admin=p.IsSuperAdmin,
                         name=p.DisplayName or None) for p in info.Participants)
    ephemeral = info.GroupEphemeral
    return Group(
        jid=jid_str(info.JID) or "", subject=info.GroupName.Name, description=info.GroupTopic.Topic,
        owner=jid_str(info.OwnerPN) or jid_str(info.OwnerJID), created_at=float(info.GroupCreated),
        settings=GroupSettings(announce=info.GroupAnnounce.IsAnnounce, locked=info.GroupLocked.isLocked,
                               disappearing=int(ephemeral.DisappearingTimer) if ephemeral.IsEphemeral else 0),
        participants=participants, is_community=info.GroupParent.IsParent,
        community=jid_str(info.GroupLinkedParent.LinkedParentJID))


def participant_result(participant: Any, action: str) -> ParticipantResult:
    """What WhatsApp did for one participant of a change, from its error code (0 or 200: done)."""
    code = int(participant.Error)
    outcome: ParticipantOutcome
    invite_code, expires = None, None
    if code in (0, 200):
        outcome = "done"
    elif code == 403 and participant.HasField("AddRequest") and participant.AddRequest.Code:
        outcome, invite_code, expires = "invited", participant.AddRequest.Code, float(participant.AddRequest.Expiration)
    elif code == 404:
        outcome = "not_on_whatsapp" if action == "add" else "not_member"
    elif code == 409:
        outcome = "already_member" if action == "add" else "refused"
    else:
        outcome = "refused"
    return ParticipantResult(jid=_phone_jid(participant), outcome=outcome, code=code, invite_code=invite_code,
                             invite_expires=expires)


class NeonizeGroups(NeonizeBase):
    """The groups part of `NeonizeTransport`: whatsmeow's group calls, and its group events."""

    def _event_handlers(self) -> dict[type, EventHandler]:
        from neonize.aioze import events as ev

        return {**super()._event_handlers(), ev.JoinedGroupEv: self._on_joined_group,
                ev.GroupInfoEv: self._on_group_info}

    async def _client(self, session_id: str) -> NewAClient:
        return (await self._ready(session_id)).client

    @staticmethod
    def _group_jid(jid: str) -> JID:
        from neonize.utils.jid import build_jid

        user, _, server = jid.partition("@")
        if server != "g.us" or not user:
            raise GroupNotFound(f"{jid!r} is not a group JID")
        return build_jid(user, "g.us")

    @staticmethod
    def _person_jid(value: str) -> JID:
        return recipient_jid(value)

    # --- the interface -----------------------------------------------------------------------------

    async def groups(self, session_id: str) -> list[Group]:
        from neonize.exc import NeonizeError

        client = await self._client(session_id)
        try:
            return [group_from_info(info) for info in await client.get_joined_groups()]
        except NeonizeError as exc:
            raise group_error(exc) from exc

    async def group(self, session_id: str, jid: str) -> Group:
        from neonize.exc import NeonizeError

        client = await self._client(session_id)
        try:
            return group_from_info(await client.get_group_info(self._group_jid(jid)))
        except NeonizeError as exc:
            raise group_error(exc) from exc

    async def create_group(self, session_id: str, subject: str, participants: Sequence[str], *,
                           community: bool = False, parent: str | None = None) -> Group:
        from neonize.exc import NeonizeError
        from neonize.proto.Neonize_pb2 import GroupLinkedParent, GroupParent

        client = await self._client(session_id)
        jids = [self._person_jid(p) for p in participants]
        try:
            info = await client.create_group(
                subject, jids,
                linked_parent=GroupLinkedParent(LinkedParentJID=self._group_jid(parent)) if parent else None,
                # a proto2 required field: whatsmeow's own default for a new community ("request_required")
                group_parent=GroupParent(IsParent=True, DefaultMembershipApprovalMode="request_required")
                if community else None)
        except NeonizeError as exc:
            raise group_error(exc) from exc
        return group_from_info(info)

    async def leave_group(self, session_id: str, jid: str) -> None:
        await self._do(session_id, "leave_group", self._group_jid(jid))

    async def change_participants(self, session_id: str, jid: str, action: ParticipantAction,
                                  participants: Sequence[str]) -> list[ParticipantResult]:
        from neonize.utils.enum import ParticipantChange

        change = {"add": ParticipantChange.ADD, "remove": ParticipantChange.REMOVE,
                  "promote": ParticipantChange.PROMOTE, "demote": ParticipantChange.DEMOTE}[action]
        answered = await self._do(session_id, "update_group_participants", self._group_jid(jid),
                                  [self._person_jid(p) for p in participants], change)
        return [participant_result(p, action) for p in answered]

    async def join_requests(self, session_id: str, jid: str) -> list[JoinRequest]:
        answered = await self._do(session_id, "get_group_request_participants", self._group_jid(jid))
        return [JoinRequest(jid=jid_str(r.Participant) or "", requested_at=float(r.TimeAt)) for r in answered]

    async def answer_join_requests(self, session_id: str, jid: str, action: RequestAction,
                                   participants: Sequence[str]) -> list[ParticipantResult]:
        raise GroupFeatureMissing("neonize 0.5.2 cannot approve or reject requests to join: answer them on the phone")

    async def invite_link(self, session_id: str, jid: str, *, reset: bool = False) -> str:
        link = await self._do(session_id, "get_group_invite_link", self._group_jid(jid), reset)
        return str(link)

    async def join_group(self, session_id: str, code: str) -> str:
        joined = await self._do(session_id, "join_group_with_link", code)
        return jid_str(joined) or ""

    async def invite_preview(self, session_id: str, code: str) -> Group:
        return group_from_info(await self._do(session_id, "get_group_info_from_link", code))

    async def update_group(self, session_id: str, jid: str, *, subject: str | None = None,
                           description: str | None = None, announce: bool | None = None, locked: bool | None = None,
                           join_approval: bool | None = None, disappearing: int | None = None) -> None:
        if join_approval is not None:  # checked first: nothing is half-done when it cannot be
            raise GroupFeatureMissing("neonize 0.5.2 cannot switch join approval: change it on the phone")
        group = self._group_jid(jid)
        if subject is not None:
            await self._do(session_id, "set_group_name", group, subject)
        if description is not None:
            # whatsmeow replaces the topic whose id it is given; the current one is read first
            info = await self._do(session_id, "get_group_info", group)
            await self._do(session_id, "set_group_topic", group, info.GroupTopic.TopicID, "", description)
        if announce is not None:
            await self._do(session_id, "set_group_announce", group, announce)
        if locked is not None:
            await self._do(session_id, "set_group_locked", group, locked)
        if disappearing is not None:
            await self._do(session_id, "set_disappearing_timer", group, disappearing * 1_000_000_000)

    async def set_group_picture(self, session_id: str, jid: str, image: bytes) -> str:
        return str(await self._do(session_id, "set_group_photo", self._group_jid(jid), image))

    async def link_group(self, session_id: str, community: str, jid: str) -> None:
        await self._do(session_id, "link_group", self._group_jid(community), self._group_jid(jid))

    async def unlink_group(self, session_id: str, community: str, jid: str) -> None:
        await self._do(session_id, "unlink_group", self._group_jid(community), self._group_jid(jid))

    async def community_groups(self, session_id: str, community: str) -> list[Group]:
        targets = await self._do(session_id, "get_sub_groups", self._group_jid(community))
        return [Group(jid=jid_str(t.JID) or "", subject=t.GroupName.Name, community=community) for t in targets]

    async def _do(self, session_id: str, method: str, *args: Any) -> Any:
        """Call the client's `method`; whatsmeow's refusal as our error."""
        from neonize.exc import NeonizeError

        client = await self._client(session_id)
        try:
            return await getattr(client, method)(*args)
        except NeonizeError as exc:
            raise group_error(exc) from exc

    async def _mentions(self, s: SessionState, to: str, text: str) -> list[str]:
        """The members a group text mentions, by the JID WhatsApp addresses each by (a LID in LID groups)."""
        from neonize.exc import NeonizeError

        if not to.endswith("@g.us") or "@" not in text:
            return []
        try:
            info = await s.client.get_group_info(self._group_jid(to))
        except NeonizeError as exc:
            raise transport_error(exc) from exc  # nothing was sent: safe to retry
        members = {_phone_jid(p).partition("@")[0]: jid_str(p.JID) or _phone_jid(p) for p in info.Participants}
        return mentioned(text, members)

    # --- events ------------------------------------------------------------------------------------

    async def _on_joined_group(self, s: SessionState, ev: Any) -> None:
        reason = ev.Reason or ev.Type or None
        await self._emit(GroupJoined(session_id=s.id, group=group_from_info(ev.GroupInfo), by=jid_str(ev.SenderPN)
                                     or jid_str(ev.Sender), reason=reason))

    async def _on_group_info(self, s: SessionState, ev: Any) -> None:
        for event in await self._group_info_events(s, ev):
            await self._emit(event)

    async def _group_info_events(self, s: SessionState, ev: Any) -> list[TransportEvent]:
        """whatsmeow's GroupInfo: one notification may carry several changes; each becomes its event."""
        jid, at = jid_str(ev.JID) or "", float(ev.Timestamp)
        by = await self._phone_of(s, jid_str(ev.Sender)) if ev.HasField("Sender") else None
        found: list[TransportEvent] = []
        own = _own_users(s.account)
        for field, action in (("Join", "added"), ("Leave", "removed"), ("Promote", "promoted"),
                              ("Demote", "demoted")):
            people = [p for j in getattr(ev, field) if (p := await self._phone_of(s, jid_str(j)))]
            if action == "removed" and any(p.partition("@")[0] in own for p in people):
                found.append(GroupLeft(session_id=s.id, jid=jid, by=by))
                people = [p for p in people if p.partition("@")[0] not in own]
            if people:
                found.append(GroupParticipantsChanged(session_id=s.id, jid=jid, action=action,  # type: ignore[arg-type]
                                                      participants=tuple(people), by=by, timestamp=at))
        changes: dict[str, object] = {}
        if ev.HasField("Name"):
            changes["subject"] = ev.Name.Name
        if ev.HasField("Topic"):
            changes["description"] = "" if ev.Topic.TopicDeleted else ev.Topic.Topic
        if ev.HasField("Announce"):
            changes["announce"] = ev.Announce.IsAnnounce
        if ev.HasField("Locked"):
            changes["locked"] = ev.Locked.isLocked
        if ev.HasField("Ephemeral"):
            changes["disappearing"] = int(ev.Ephemeral.DisappearingTimer) if ev.Ephemeral.IsEphemeral else 0
        if ev.NewInviteLink:
            changes["invite_link"] = "reset"
        if ev.HasField("Link"):
            changes["linked"] = jid_str(ev.Link.Group.JID)
        if ev.HasField("Unlink"):
            changes["unlinked"] = jid_str(ev.Unlink.Group.JID)
        if ev.HasField("Delete") and ev.Delete.Deleted:
            changes["deleted"] = True
        if changes:
            found.append(GroupUpdated(session_id=s.id, jid=jid, changes=changes, by=by, timestamp=at))
        return found

    async def _phone_of(self, s: SessionState, jid: str | None) -> str | None:
        """A participant's phone-number JID: WhatsApp names them by LID in LID-addressed groups."""
        if jid is None or not jid.endswith("@lid"):
            return jid
        from neonize.exc import NeonizeError

        try:
            phone: str | None = await s.recipients.phone_of_lid(s.client, jid)
        except NeonizeError:
            return jid
        return phone or jid


def _own_users(account: Account | None) -> set[str]:
    """The user parts the session's own number goes by (phone and LID), to tell its own removal apart."""
    if account is None:
        return set()
    users = {account.phone, account.jid.partition("@")[0].partition(":")[0]}
    if account.lid:
        users.add(account.lid.partition("@")[0].partition(":")[0])
    return users
