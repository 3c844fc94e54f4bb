"""The simulated WhatsApp's people: a number's about text, picture and business profile, the block list, LIDs,
and the session's own push name, about text and picture.

A contact's profile is what `set_contact_profile` gave it, or WhatsApp's defaults (the default about text, no
picture shown, not a business). Who is on WhatsApp follows the transport's own rule (`_on_whatsapp`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from wagate.errors import InvalidRecipient, SessionNotConnected, TransportError
from wagate.transport.base import BusinessProfile, ProfilePicture, UserInfo
from wagate.transport.simulator import wire
from wagate.transport.simulator.chats_state import SimulatorChatState
from wagate.transport.simulator.session import SimSession

DEFAULT_ABOUT = "Hey there! I am using WhatsApp."
PICTURE_HOST = "https://pps.whatsapp.net/v/simulated"


@dataclass
class SimProfile:
    about: str | None = DEFAULT_ABOUT
    picture: bytes | None = None  # JPEG
    business: BusinessProfile | None = None
    verified_name: str | None = None  # a business's name, as WhatsApp verified it


@dataclass
class AccountPeople:
    blocked: list[str] = field(default_factory=list)
    own: SimProfile = field(default_factory=SimProfile)


class SimulatorContacts(SimulatorChatState):
    """Contacts' profiles, blocks, LIDs and the own profile (built on the chat state for its record of actions)."""

    @property
    def _profiles(self) -> dict[str, SimProfile]:
        """Profiles of the people on the simulated WhatsApp, by phone-number JID."""
        if not hasattr(self, "_sim_profiles"):
            self._sim_profiles: dict[str, SimProfile] = {}
        return self._sim_profiles

    def _people_of(self, session_id: str) -> AccountPeople:
        if not hasattr(self, "_account_people"):
            self._account_people: dict[str, AccountPeople] = {}
        return self._account_people.setdefault(session_id, AccountPeople())

    async def user_info(self, session_id: str, jids: Sequence[str]) -> dict[str, UserInfo]:
        s = self._connected(session_id)
        found: dict[str, UserInfo] = {}
        for given in jids:
            jid = self._person(given)
            if jid is None:
                continue
            profile = self._profile(s, jid)
            digits = jid.split("@", 1)[0]
            found[given] = UserInfo(
                jid=jid, about=profile.about, lid=wire.lid_for(digits), verified_name=profile.verified_name,
                picture_id=_picture_id(profile.picture) if profile.picture else None,
                devices=(f"{digits}@{wire.USER_SERVER}", f"{digits}:1@{wire.USER_SERVER}"))
        return found

    async def profile_picture(self, session_id: str, jid: str, *, preview: bool = False) -> ProfilePicture | None:
        s = self._connected(session_id)
        person = self._person(jid)
        profile = self._profile(s, person) if person else None
        if profile is None or profile.picture is None:
            return None
        picture_id = _picture_id(profile.picture)
        kind = "preview" if preview else "image"
        return ProfilePicture(url=f"{PICTURE_HOST}/{picture_id}/{kind}.jpg", id=picture_id, type=kind)

    async def business_profile(self, session_id: str, jid: str) -> BusinessProfile | None:
        self._connected(session_id)
        profile = self._profiles.get(self._person(jid) or "")
        return profile.business if profile else None

    async def blocklist(self, session_id: str) -> list[str]:
        self._connected(session_id)
        return list(self._people_of(session_id).blocked)

    async def set_blocked(self, session_id: str, jid: str, blocked: bool) -> list[str]:
        person = self._person(jid)
        if person is None:
            raise InvalidRecipient(f"{jid} is not on WhatsApp")
        self._act(session_id, "block", person, blocked)
        listed = self._people_of(session_id).blocked
        if blocked and person not in listed:
            listed.append(person)
        elif not blocked and person in listed:
            listed.remove(person)
        return list(listed)

    async def set_push_name(self, session_id: str, name: str) -> None:
        s = self._connected(session_id)
        if s.account is not None:
            s.account = dataclasses.replace(s.account, push_name=name)

    async def set_about(self, session_id: str, text: str) -> None:
        self._connected(session_id)
        self._people_of(session_id).own.about = text

    async def set_profile_picture(self, session_id: str, data: bytes) -> str:
        self._connected(session_id)
        if not data.startswith(b"\xff\xd8"):
            # whatsmeow uploads what it is given and WhatsApp's server refuses anything but a JPEG
            raise TransportError("WhatsApp takes a JPEG picture")
        self._people_of(session_id).own.picture = data
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
        self._profiles[f"{digits}@{wire.USER_SERVER}"] = SimProfile(about, picture, business, verified_name)

    def own_profile(self, session_id: str) -> SimProfile:
        return self._people_of(session_id).own

    # --- inside ------------------------------------------------------------------------------------------

    def _person(self, jid_or_phone: str) -> str | None:
        """The phone-number JID of an account on the simulated WhatsApp, or None when there is none."""
        try:
            jid = wire.recipient_jid(jid_or_phone)
        except InvalidRecipient:
            return None
        user, _, server = jid.partition("@")
        return jid if server == wire.USER_SERVER and self._on_whatsapp(user) else None

    def _profile(self, s: SimSession, jid: str) -> SimProfile:
        """The session's own profile for its own number, else the contact's (WhatsApp's defaults if none set)."""
        if s.account is not None and jid == wire.recipient_jid(s.account.jid):
            return self._people_of(s.id).own
        return self._profiles.get(jid, SimProfile())

    def _known_people(self, session_id: str) -> list[str]:
        s = self._session(session_id)
        if s.account is None:
            raise SessionNotConnected("the session is not logged in")
        return [*self._profiles, *s.senders, *(c.jid for c in wire.address_book(session_id))]


def _picture_id(data: bytes) -> str:
    return str(int.from_bytes(hashlib.sha256(data).digest()[:6]))
