"""Groups and communities in the simulated WhatsApp: one world of groups shared by every simulated session.

The session's side is the transport interface (`groups`, `create_group`, `change_participants` …); the other
members' side is the phone-side actions below (`group_add_session`, `group_member_action`, `group_member_update`,
`group_join_request`), which tests and demos drive as they drive incoming messages. Every change reaches each
member session as the event WhatsApp would send it (the session's own changes included, as WhatsApp notifies every
member), held while a session is offline.

WhatsApp's rules played here: only admins change members, settings and the invite link; a locked group's subject,
description and picture are the admins' too; a number whose privacy lets only contacts add it is sent an invite
instead (`group_privacy`); a group with join approval turns a join by link into a request the admins answer.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace

from wagate.errors import InvalidRecipient, TransportError
from wagate.transport.base import TransportEvent
from wagate.transport.groups import (
    Group,
    GroupJoined,
    GroupJoinPending,
    GroupLeft,
    GroupNotFound,
    GroupParticipantsChanged,
    GroupUpdated,
    JoinRequest,
    NotGroupAdmin,
    ParticipantAction,
    ParticipantResult,
    RequestAction,
    mentioned,
)
from wagate.transport.simulator import wire
from wagate.transport.simulator.group_world import INVITE_PREFIX, INVITE_TTL_S, SimGroup, invite_code, jid_of
from wagate.transport.simulator.session import SimulatorBase
from wagate.transport.simulator.wire import PhoneActionError

# The other members' side, as `simulator_control` actions (each a method below taking the session id first).
MEMBER_ACTIONS = ("group_add_session", "group_member_action", "group_member_update", "group_join_request",
                  "group_privacy")
class SimulatorGroups(SimulatorBase):
    """The groups part of `SimulatorTransport`, and the other members' side of its groups."""

    @property
    def group_world(self) -> dict[str, SimGroup]:
        """Every group of the simulated WhatsApp, by JID (made on first use: the transport's __init__ is shared)."""
        return self.__dict__.setdefault("_group_world", {})

    @property
    def invite_only(self) -> set[str]:
        """Phone digits whose privacy lets only their contacts add them to groups."""
        return self.__dict__.setdefault("_invite_only", set())

    # --- the interface -----------------------------------------------------------------------------

    async def groups(self, session_id: str) -> list[Group]:
        phone = self._own_phone(session_id)
        return [g.view() for g in self.group_world.values() if phone in g.members]

    async def group(self, session_id: str, jid: str) -> Group:
        return self._member_group(session_id, jid)[0].view()

    async def create_group(self, session_id: str, subject: str, participants: Sequence[str], *,
                           community: bool = False, parent: str | None = None) -> Group:
        phone = self._own_phone(session_id)
        if not subject.strip():
            raise InvalidRecipient("a group needs a subject")
        if parent is not None:
            owner_of, _ = self._admin_group(session_id, parent)
            if not owner_of.is_community:
                raise GroupNotFound(f"{parent} is not a community")
        jid = f"120363{int.from_bytes(os.urandom(6)) % 10**12:012d}@{wire.GROUP_SERVER}"
        g = self.group_world[jid] = SimGroup(jid=jid, subject=subject, owner=phone, created_at=float(int(time.time())),
                                             members={phone: "owner"}, is_community=community, community=parent)
        results = [self._add(g, p) for p in participants]
        await self._tell(g, GroupJoined(session_id="", group=g.view(), reason="create"))
        for result in results:  # the added members hear of it as a group they joined
            if result.outcome == "done":
                await self._tell_phone(result.jid.partition("@")[0], GroupJoined(
                    session_id="", group=g.view(), by=jid_of(phone), reason="add"))
        return g.view()

    async def leave_group(self, session_id: str, jid: str) -> None:
        g, phone = self._member_group(session_id, jid)
        await self._tell(g, GroupParticipantsChanged(session_id="", jid=jid, action="removed",
                                                     participants=(jid_of(phone),), by=jid_of(phone),
                                                     timestamp=time.time()), skip=phone)
        self._remove(g, phone)
        await self._tell_phone(phone, GroupLeft(session_id="", jid=jid, by=jid_of(phone)))

    async def change_participants(self, session_id: str, jid: str, action: ParticipantAction,
                                  participants: Sequence[str]) -> list[ParticipantResult]:
        g, phone = self._admin_group(session_id, jid)
        return await self._change_participants(g, phone, action, participants)

    async def join_requests(self, session_id: str, jid: str) -> list[JoinRequest]:
        g, _ = self._admin_group(session_id, jid)
        return [JoinRequest(jid=jid_of(p), requested_at=at) for p, at in g.requests.items()]

    async def answer_join_requests(self, session_id: str, jid: str, action: RequestAction,
                                   participants: Sequence[str]) -> list[ParticipantResult]:
        g, phone = self._admin_group(session_id, jid)
        results, approved = [], []
        for participant in participants:
            digits = self._digits(participant)
            if digits not in g.requests:
                results.append(ParticipantResult(jid=jid_of(digits), outcome="refused", code=404))
                continue
            del g.requests[digits]
            if action == "approve":
                g.members[digits] = "member"
                approved.append(digits)
            results.append(ParticipantResult(jid=jid_of(digits), outcome="done", code=200))
        if approved:
            await self._tell(g, GroupParticipantsChanged(session_id="", jid=jid, action="added",
                                                         participants=tuple(map(jid_of, approved)),
                                                         by=jid_of(phone), timestamp=time.time()))
            for digits in approved:
                await self._tell_phone(digits, GroupJoined(session_id="", group=g.view(), by=jid_of(phone),
                                                           reason="approved"))
        return results

    async def invite_link(self, session_id: str, jid: str, *, reset: bool = False) -> str:
        g, phone = self._admin_group(session_id, jid)
        if reset:
            g.invite_code = secrets.token_urlsafe(16)[:22]
            await self._tell(g, GroupUpdated(session_id="", jid=jid, changes={"invite_link": "reset"},
                                             by=jid_of(phone), timestamp=time.time()))
        return INVITE_PREFIX + g.invite_code

    async def join_group(self, session_id: str, code: str) -> str:
        phone = self._own_phone(session_id)
        g = self._by_invite(code)
        if phone in g.members:
            return g.jid
        if g.settings.join_approval:
            g.requests.setdefault(phone, float(int(time.time())))
            raise GroupJoinPending()
        g.members[phone] = "member"
        await self._tell(g, GroupParticipantsChanged(session_id="", jid=g.jid, action="added",
                                                     participants=(jid_of(phone),), timestamp=time.time()),
                         skip=phone)
        await self._tell_phone(phone, GroupJoined(session_id="", group=g.view(), reason="invite"))
        return g.jid

    async def invite_preview(self, session_id: str, code: str) -> Group:
        self._own_phone(session_id)
        return self._by_invite(code).view()

    async def update_group(self, session_id: str, jid: str, *, subject: str | None = None,
                           description: str | None = None, announce: bool | None = None, locked: bool | None = None,
                           join_approval: bool | None = None, disappearing: int | None = None) -> None:
        g, phone = self._member_group(session_id, jid)
        if g.members[phone] == "member" and (
                g.settings.locked or any(v is not None for v in (announce, locked, join_approval))):
            raise NotGroupAdmin()
        await self._update(g, phone, subject=subject, description=description, announce=announce, locked=locked,
                           join_approval=join_approval, disappearing=disappearing)

    async def set_group_picture(self, session_id: str, jid: str, image: bytes) -> str:
        g, phone = self._member_group(session_id, jid)
        if g.settings.locked and g.members[phone] == "member":
            raise NotGroupAdmin()
        if not image.startswith(b"\xff\xd8"):
            raise TransportError("WhatsApp takes a group picture as a JPEG image")
        g.picture_id = str(int(time.time() * 1000))
        await self._tell(g, GroupUpdated(session_id="", jid=jid, changes={"picture": g.picture_id},
                                         by=jid_of(phone), timestamp=time.time()))
        return g.picture_id

    async def link_group(self, session_id: str, community: str, jid: str) -> None:
        parent, phone = self._admin_group(session_id, community)
        child, _ = self._admin_group(session_id, jid)
        if not parent.is_community or child.is_community:
            raise TransportError(f"{community} must be a community and {jid} a group to link them")
        if child.community is not None and child.community != community:
            raise TransportError(f"{jid} is linked to another community already")
        child.community = community
        await self._tell(parent, GroupUpdated(session_id="", jid=community, changes={"linked": jid},
                                              by=jid_of(phone), timestamp=time.time()))

    async def unlink_group(self, session_id: str, community: str, jid: str) -> None:
        parent, phone = self._admin_group(session_id, community)
        child = self.group_world.get(jid)
        if child is None or child.community != community:
            raise GroupNotFound(f"{jid} is not linked to {community}")
        child.community = None
        await self._tell(parent, GroupUpdated(session_id="", jid=community, changes={"unlinked": jid},
                                              by=jid_of(phone), timestamp=time.time()))

    async def community_groups(self, session_id: str, community: str) -> list[Group]:
        parent, _ = self._member_group(session_id, community)
        if not parent.is_community:
            raise GroupNotFound(f"{community} is not a community")
        return [Group(jid=g.jid, subject=g.subject, community=community) for g in self.group_world.values()
                if g.community == community]

    def _mentions(self, to: str, text: str) -> tuple[str, ...]:
        g = self.group_world.get(to)
        if g is None or "@" not in text:
            return ()
        return tuple(mentioned(text, {phone: jid_of(phone) for phone in g.members}))

    # --- the other members' side ---------------------------------------------------------------------

    async def group_privacy(self, session_id: str, phone: str, invite_only: bool = True) -> None:
        """`phone` lets only its contacts add it to groups: adding it gives an invite instead (on the simulator
        that drives `session_id`)."""
        digits = self._digits(phone)
        (self.invite_only.add if invite_only else self.invite_only.discard)(digits)

    async def group_add_session(self, session_id: str, from_phone: str, subject: str = "Grup Simulasi",
                                members: Sequence[str] = (), group: str | None = None) -> str:
        """Someone (`from_phone`, its owner) creates a group with the session's number and `members` in it;
        `group` chooses its JID (a fresh one otherwise)."""
        owner, phone = self._digits(from_phone), self._linked_phone(session_id)
        jid = group or f"120363{int.from_bytes(os.urandom(6)) % 10**12:012d}@{wire.GROUP_SERVER}"
        if jid in self.group_world:
            raise PhoneActionError(f"{jid} exists already")
        g = self.group_world[jid] = SimGroup(jid=jid, subject=subject, owner=owner, created_at=float(int(time.time())),
                                             members={owner: "owner", phone: "member"})
        for member in members:
            g.members.setdefault(self._digits(member), "member")
        await self._tell(g, GroupJoined(session_id="", group=g.view(), by=jid_of(owner), reason="add"))
        return jid

    async def group_member_action(self, session_id: str, group: str, from_phone: str, action: ParticipantAction,
                                  participants: Sequence[str]) -> list[ParticipantResult]:
        """An admin of `group` (`from_phone`) adds, removes, promotes or demotes members (the session's number too)."""
        g = self._world_group(group)
        actor = self._digits(from_phone)
        if g.members.get(actor, "member") == "member":
            raise PhoneActionError(f"{from_phone} is not an admin of {group}")
        return await self._change_participants(g, actor, action, participants)

    async def group_member_update(self, session_id: str, group: str, from_phone: str, *, subject: str | None = None,
                                  description: str | None = None, announce: bool | None = None,
                                  locked: bool | None = None, join_approval: bool | None = None,
                                  disappearing: int | None = None) -> None:
        """A member of `group` (an admin for settings) changes its subject, description or settings."""
        g = self._world_group(group)
        actor = self._digits(from_phone)
        if actor not in g.members:
            raise PhoneActionError(f"{from_phone} is not in {group}")
        await self._update(g, actor, subject=subject, description=description, announce=announce, locked=locked,
                           join_approval=join_approval, disappearing=disappearing)

    async def group_join_request(self, session_id: str, group: str, from_phone: str) -> None:
        """Someone follows the group's invite link; the group approves members, so it waits for an admin."""
        g = self._world_group(group)
        if not g.settings.join_approval:
            raise PhoneActionError(f"{group} lets anyone with its link in: turn join approval on first")
        g.requests.setdefault(self._digits(from_phone), float(int(time.time())))

    # --- WhatsApp's side ---------------------------------------------------------------------------

    async def _change_participants(self, g: SimGroup, actor: str, action: ParticipantAction,
                      participants: Sequence[str]) -> list[ParticipantResult]:
        results, changed = [], []
        for participant in participants:
            digits = self._digits(participant)
            if action == "add":
                result = self._add(g, digits)
            elif digits not in g.members:
                result = ParticipantResult(jid=jid_of(digits), outcome="not_member", code=404)
            elif g.members[digits] == "owner" and action != "promote":
                result = ParticipantResult(jid=jid_of(digits), outcome="refused", code=403)  # the owner stays
            else:
                if action == "remove":
                    self._remove(g, digits)
                else:
                    g.members[digits] = "admin" if action == "promote" else "member"
                result = ParticipantResult(jid=jid_of(digits), outcome="done", code=200)
            results.append(result)
            if result.outcome == "done":
                changed.append(digits)
        if changed:
            done = {"add": "added", "remove": "removed", "promote": "promoted", "demote": "demoted"}[action]
            await self._tell(g, GroupParticipantsChanged(session_id="", jid=g.jid, action=done,  # type: ignore[arg-type]
                                                         participants=tuple(map(jid_of, changed)),
                                                         by=jid_of(actor), timestamp=time.time()))
            for digits in changed:
                if action == "add":
                    await self._tell_phone(digits, GroupJoined(session_id="", group=g.view(), by=jid_of(actor),
                                                               reason="add"))
                elif action == "remove":
                    await self._tell_phone(digits, GroupLeft(session_id="", jid=g.jid, by=jid_of(actor)))
        return results

    def _add(self, g: SimGroup, participant: str) -> ParticipantResult:
        digits = self._digits(participant)
        if not self._on_whatsapp(digits):
            return ParticipantResult(jid=jid_of(digits), outcome="not_on_whatsapp", code=404)
        if digits in g.members:
            return ParticipantResult(jid=jid_of(digits), outcome="already_member", code=409)
        if digits in self.invite_only:
            return ParticipantResult(jid=jid_of(digits), outcome="invited", code=403,
                                     invite_code=secrets.token_urlsafe(12), invite_expires=time.time() + INVITE_TTL_S)
        g.members[digits] = "member"
        return ParticipantResult(jid=jid_of(digits), outcome="done", code=200)

    def _remove(self, g: SimGroup, phone: str) -> None:
        g.members.pop(phone, None)
        if g.owner == phone and g.members:
            # WhatsApp hands a group its owner left to the longest-standing admin, or member
            heir = next((p for p, role in g.members.items() if role == "admin"), next(iter(g.members)))
            g.owner, g.members[heir] = heir, "owner"

    async def _update(self, g: SimGroup, actor: str, **changes: object) -> None:
        given = {k: v for k, v in changes.items() if v is not None}
        if "subject" in given:
            if not str(given["subject"]).strip():
                raise TransportError("a group's subject cannot be empty")
            g.subject = str(given["subject"])
        if "description" in given:
            g.description = str(given["description"])
        settings = {k: given[k] for k in ("announce", "locked", "join_approval", "disappearing") if k in given}
        if settings:
            g.settings = replace(g.settings, **settings)  # type: ignore[arg-type]
        if given:
            await self._tell(g, GroupUpdated(session_id="", jid=g.jid, changes=given, by=jid_of(actor),
                                             timestamp=time.time()))

    async def _tell(self, g: SimGroup, event: TransportEvent, *, skip: str | None = None) -> None:
        """Deliver `event` to every simulated session whose number is in the group."""
        for phone in list(g.members):
            if phone != skip:
                await self._tell_phone(phone, event)

    async def _tell_phone(self, phone: str, event: TransportEvent) -> None:
        for s in list(self._sessions.values()):
            if s.account is not None and s.account.phone == phone:
                await self._deliver(s, replace(event, session_id=s.id))

    def _own_phone(self, session_id: str) -> str:
        s = self._connected(session_id)
        assert s.account is not None  # a connected session is linked
        return s.account.phone

    def _linked_phone(self, session_id: str) -> str:
        s = self._session(session_id)
        if s.account is None:
            raise PhoneActionError("the session is not linked")
        return s.account.phone

    def _world_group(self, jid: str) -> SimGroup:
        g = self.group_world.get(jid.strip())
        if g is None:
            raise PhoneActionError(f"no group {jid!r} in the simulated WhatsApp")
        return g

    def _member_group(self, session_id: str, jid: str) -> tuple[SimGroup, str]:
        phone = self._own_phone(session_id)
        g = self.group_world.get(jid)
        if g is None or phone not in g.members:
            raise GroupNotFound(f"{jid} is not one of the session's groups")
        return g, phone

    def _admin_group(self, session_id: str, jid: str) -> tuple[SimGroup, str]:
        g, phone = self._member_group(session_id, jid)
        if g.members[phone] == "member":
            raise NotGroupAdmin()
        return g, phone

    def _by_invite(self, code: str) -> SimGroup:
        wanted = invite_code(code)
        for g in self.group_world.values():
            if wanted and secrets.compare_digest(g.invite_code, wanted):
                return g
        raise GroupNotFound("the invite link is not valid (revoked, or never was)")

    @staticmethod
    def _digits(participant: str) -> str:
        jid = wire.recipient_jid(participant)  # InvalidRecipient for what is no phone number or JID
        user, _, server = jid.partition("@")
        if server != wire.USER_SERVER:
            raise InvalidRecipient(f"a participant is a phone number, not {participant!r}")
        return user
