"""The simulated WhatsApp's chats, contacts and profiles: chat state (read, archived, pinned, muted), presence,
the people behind numbers (about text, picture, business profile), the block list and the session's own profile.

WhatsApp keeps chat state in the account's app state, shared by the phone and every linked device: a change made
here comes back from nowhere else, and a change made on the phone (`change_chat_on_phone`) reaches the bridge as a
`ChatStateChanged` event. A contact's profile is what `set_contact_profile` gave it, or WhatsApp's defaults (the
default about text, no picture, not a business). `chat_actions` records what the bridge asked for, in order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wagate.errors import InvalidRecipient, SessionNotConnected, TransportError

from . import simulator_wire as wire
from .base import (
    BusinessProfile,
    ChatPresenceKind,
    ChatStateChanged,
    ProfilePicture,
    UserInfo,
)
from .simulator import SimulatorTransport
from .simulator_phone import SimSession

DEFAULT_ABOUT = "Hey there! I am using WhatsApp."
PICTURE_HOST = "https://pps.whatsapp.net/v/simulated"


@dataclass(frozen=True, slots=True)
class ChatAction:
    """Something the bridge asked of a chat or of the session's presence (`chat` empty for the presence)."""

    session_id: str
    action: str  # presence | chat_presence | archive | pin | mute | read
    chat: str
    value: Any


@dataclass
class SimProfile:
    about: str | None = DEFAULT_ABOUT
    picture: bytes | None = None
    business: BusinessProfile | None = None
    verified_name: str | None = None  # a business's name, as WhatsApp verified it


@dataclass
class SimAccountState:
    """The account's side of one session: its chats' app state, block list and own profile."""

    chats: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)
    online: bool = False
    own: SimProfile = field(default_factory=SimProfile)


class ChatsSimulation:
    """Mixed into the simulator transport: needs its `_session`, `_connected` and `_deliver`."""

    if TYPE_CHECKING:  # supplied by the transport (declared only for the type checker: they must not shadow it)
        def _session(self, session_id: str) -> SimSession: ...
        def _connected(self, session_id: str) -> SimSession: ...
        def _on_whatsapp(self, digits: str) -> bool: ...
        async def _deliver(self, s: SimSession, event: Any) -> None: ...

    @property
    def chat_actions(self) -> list[ChatAction]:
        if not hasattr(self, "_chat_actions"):
            self._chat_actions: list[ChatAction] = []
        return self._chat_actions

    @property
    def _profiles(self) -> dict[str, SimProfile]:
        """Profiles of the people on the simulated WhatsApp, by phone-number JID."""
        if not hasattr(self, "_sim_profiles"):
            self._sim_profiles: dict[str, SimProfile] = {}
        return self._sim_profiles

    def _account_state(self, session_id: str) -> SimAccountState:
        if not hasattr(self, "_sim_accounts"):
            self._sim_accounts: dict[str, SimAccountState] = {}
        return self._sim_accounts.setdefault(session_id, SimAccountState())

    def _act(self, session_id: str, action: str, chat: str, value: Any) -> SimAccountState:
        self._connected(session_id)
        self.chat_actions.append(ChatAction(session_id, action, chat, value))
        return self._account_state(session_id)

    # --- the interface ---------------------------------------------------------------------------------

    async def send_chat_presence(self, session_id: str, chat: str, state: ChatPresenceKind) -> None:
        self._act(session_id, "chat_presence", wire.recipient_jid(chat), state)

    async def set_presence(self, session_id: str, available: bool) -> None:
        self._act(session_id, "presence", "", available).online = available

    async def archive_chat(self, session_id: str, chat: str, archived: bool) -> None:
        jid = wire.recipient_jid(chat)
        state = self._act(session_id, "archive", jid, archived).chats.setdefault(jid, {})
        state["archived"] = archived
        if archived:  # as WhatsApp does (whatsmeow's BuildArchive): archiving unpins
            state["pinned"] = False

    async def pin_chat(self, session_id: str, chat: str, pinned: bool) -> None:
        jid = wire.recipient_jid(chat)
        self._act(session_id, "pin", jid, pinned).chats.setdefault(jid, {})["pinned"] = pinned

    async def mute_chat(self, session_id: str, chat: str, muted: bool, until: float | None = None) -> None:
        jid = wire.recipient_jid(chat)
        state = self._act(session_id, "mute", jid, until if muted else False).chats.setdefault(jid, {})
        state["muted"], state["muted_until"] = muted, until

    async def mark_chat_read(self, session_id: str, chat: str) -> None:
        jid = wire.recipient_jid(chat)
        self._act(session_id, "read", jid, True).chats.setdefault(jid, {})["read"] = True

    async def user_info(self, session_id: str, jids: Sequence[str]) -> dict[str, UserInfo]:
        s = self._connected(session_id)
        found: dict[str, UserInfo] = {}
        for given in jids:
            jid = self._person(given)
            if jid is None:
                continue
            own = self._own_or_person(s, given) == "me"
            profile = self._account_state(session_id).own if own else self._profiles.get(jid, SimProfile())
            digits = jid.split("@", 1)[0]
            found[given] = UserInfo(
                jid=jid, about=profile.about, lid=wire.lid_for(digits),
                picture_id=_picture_id(profile.picture) if profile.picture else None,
                verified_name=profile.verified_name,
                devices=(f"{digits}@{wire.USER_SERVER}", f"{digits}:1@{wire.USER_SERVER}"))
        return found

    async def profile_picture(self, session_id: str, jid: str, *, preview: bool = False) -> ProfilePicture | None:
        s = self._connected(session_id)
        person = self._own_or_person(s, jid)
        profile = self._account_state(session_id).own if person == "me" else self._profiles.get(person or "")
        if profile is None or profile.picture is None:
            return None
        picture_id = _picture_id(profile.picture)
        kind = "preview" if preview else "image"
        return ProfilePicture(url=f"{PICTURE_HOST}/{picture_id}/{kind}.jpg", id=picture_id, type=kind)

    async def business_profile(self, session_id: str, jid: str) -> BusinessProfile | None:
        self._connected(session_id)
        person = self._person(jid)
        profile = self._profiles.get(person or "")
        return profile.business if profile else None

    async def blocklist(self, session_id: str) -> list[str]:
        self._connected(session_id)
        return list(self._account_state(session_id).blocked)

    async def set_blocked(self, session_id: str, jid: str, blocked: bool) -> list[str]:
        person = self._person(jid)
        if person is None:
            raise InvalidRecipient(f"{jid} is not on WhatsApp")
        state = self._act(session_id, "block", person, blocked)
        if blocked and person not in state.blocked:
            state.blocked.append(person)
        elif not blocked and person in state.blocked:
            state.blocked.remove(person)
        return list(state.blocked)

    async def set_push_name(self, session_id: str, name: str) -> None:
        s = self._connected(session_id)
        if s.account is not None:
            s.account = dataclasses.replace(s.account, push_name=name)

    async def set_about(self, session_id: str, text: str) -> None:
        self._connected(session_id)
        self._account_state(session_id).own.about = text

    async def set_profile_picture(self, session_id: str, data: bytes) -> str:
        self._connected(session_id)
        if not data.startswith(b"\xff\xd8"):
            # whatsmeow uploads what it is given and WhatsApp's server refuses anything but a JPEG
            raise TransportError("WhatsApp takes a JPEG picture")
        self._account_state(session_id).own.picture = data
        return _picture_id(data)

    async def lid_of(self, session_id: str, phone_jid: str) -> str | None:
        self._connected(session_id)
        person = self._person(phone_jid)
        return wire.lid_for(person.split("@", 1)[0]) if person else None

    async def phone_of(self, session_id: str, lid: str) -> str | None:
        self._connected(session_id)
        known = {wire.lid_for(j.split("@", 1)[0]): j for j in self._known_people(session_id)}
        return known.get(wire.recipient_jid(lid))

    # --- the phone side --------------------------------------------------------------------------------

    def set_contact_profile(self, phone: str, *, about: str | None = DEFAULT_ABOUT, picture: bytes | None = None,
                            business: BusinessProfile | None = None, verified_name: str | None = None) -> None:
        """What WhatsApp shows of the account of `phone`: about text, picture (JPEG bytes), business profile."""
        digits = wire.phone_digits(phone)
        if digits is None:
            raise ValueError(f"not a phone number: {phone!r}")
        self._profiles[f"{digits}@{wire.USER_SERVER}"] = SimProfile(about=about, picture=picture, business=business,
                                                                        verified_name=verified_name)

    async def change_chat_on_phone(self, session_id: str, chat: str, **change: Any) -> ChatStateChanged:
        """The owner changes a chat on the phone (read, archived, pinned, muted, muted_until): the app state syncs
        to the linked device as a `ChatStateChanged`, held while it is offline."""
        s = self._session(session_id)
        if s.account is None:
            raise wire.PhoneActionError("the session is not linked")
        jid = wire.recipient_jid(chat)
        self._account_state(session_id).chats.setdefault(jid, {}).update(change)
        event = ChatStateChanged(session_id=session_id, chat=jid, timestamp=time.time(), **change)
        await self._deliver(s, event)
        return event

    def chat_state(self, session_id: str, chat: str) -> dict[str, Any]:
        return dict(self._account_state(session_id).chats.get(wire.recipient_jid(chat), {}))

    def own_profile(self, session_id: str) -> SimProfile:
        return self._account_state(session_id).own

    # --- inside ------------------------------------------------------------------------------------------

    def _person(self, jid_or_phone: str) -> str | None:
        """The phone-number JID of an account on the simulated WhatsApp, or None when there is none."""
        try:
            jid = wire.recipient_jid(jid_or_phone)
        except InvalidRecipient:
            return None
        user, _, server = jid.partition("@")
        if server != wire.USER_SERVER:
            return None
        return jid if self._on_whatsapp(user) else None

    def _own_or_person(self, s: SimSession, jid: str) -> str | None:
        if s.account is not None and wire.recipient_jid(jid) == wire.recipient_jid(s.account.jid):
            return "me"
        return self._person(jid)

    def _known_people(self, session_id: str) -> list[str]:
        s = self._session(session_id)
        if s.account is None:
            raise SessionNotConnected("the session is not logged in")
        return [*self._profiles, *s.senders, *(c.jid for c in wire.address_book(session_id))]


def _picture_id(data: bytes) -> str:
    return str(int.from_bytes(hashlib.sha256(data).digest()[:6]))


class ChattingSimulator(ChatsSimulation, SimulatorTransport):
    """The simulator with its chats and contacts."""
