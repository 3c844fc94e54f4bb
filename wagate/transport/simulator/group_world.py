"""The simulated WhatsApp's groups themselves: a group's state, its invite codes, and how it is shown."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from wagate.transport.groups import Group, GroupParticipant, GroupSettings
from wagate.transport.simulator import wire

INVITE_PREFIX = "https://chat.whatsapp.com/"
INVITE_TTL_S = 21 * 86400  # how long WhatsApp keeps an invite issued to a number that cannot be added directly


@dataclass(eq=False)
class SimGroup:
    jid: str
    subject: str
    owner: str  # phone digits
    created_at: float
    description: str = ""
    settings: GroupSettings = field(default_factory=GroupSettings)
    members: dict[str, str] = field(default_factory=dict)  # phone digits → "member" | "admin" | "owner"
    requests: dict[str, float] = field(default_factory=dict)  # phone digits → when they asked to join
    invite_code: str = field(default_factory=lambda: secrets.token_urlsafe(16)[:22])
    picture_id: str | None = None
    is_community: bool = False
    community: str | None = None

    def view(self) -> Group:
        participants = tuple(
            GroupParticipant(jid=f"{phone}@{wire.USER_SERVER}", lid=wire.lid_for(phone), is_admin=role != "member",
                             is_super_admin=role == "owner") for phone, role in self.members.items())
        return Group(jid=self.jid, subject=self.subject, description=self.description,
                     owner=f"{self.owner}@{wire.USER_SERVER}", created_at=self.created_at, settings=self.settings,
                     participants=participants, is_community=self.is_community, community=self.community)


def jid_of(phone: str) -> str:
    return f"{phone}@{wire.USER_SERVER}"


def invite_code(code_or_link: str) -> str:
    return code_or_link.strip().removeprefix(INVITE_PREFIX).strip("/")
