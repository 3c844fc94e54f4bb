"""Groups and communities in the transport's words: what a group is, what a change to its members gave, and the
events WhatsApp sends when a group the session is in changes.

A community is a group with `is_community` set (WhatsApp's "parent" group); the groups linked to it carry its JID
in `community`. Participants are named by phone-number JID wherever WhatsApp gives one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from wagate.errors import TransportError

from .base import TransportEvent

ParticipantAction = Literal["add", "remove", "promote", "demote"]
RequestAction = Literal["approve", "reject"]
# What WhatsApp did for one participant of a change: `done` (added, removed, promoted, demoted as asked);
# `invited` (their privacy lets only an invite add them: WhatsApp issued `invite_code` for them);
# `not_on_whatsapp`; `already_member` / `not_member`; `refused` (blocked, left recently, group full …).
ParticipantOutcome = Literal["done", "invited", "not_on_whatsapp", "already_member", "not_member", "refused"]
GroupChangeKind = Literal["subject", "description", "announce", "locked", "join_approval", "disappearing",
                          "picture", "invite_link", "linked", "unlinked", "deleted"]
GROUP_SERVER = "g.us"
# "@6281234567890" mentions that member; "@everyone" (or "@all") mentions every member, as WhatsApp's own
# mention-all notifies everyone while the text shows as written.
_MENTION = re.compile(r"(?<![\w@])@(\d{6,15}|everyone|all)\b", re.IGNORECASE)
EVERYONE = frozenset({"everyone", "all"})


class GroupNotFound(TransportError):
    """No such group, or the session's number is not in it (WhatsApp tells the two apart to members only)."""

    status = 404
    default_message = "No such group among the session's groups"
    permanent = True


class GroupJoinPending(TransportError):
    """Joined by link a group whose admins approve new members: the request waits for them."""

    status = 409
    default_message = "The group's admins approve new members: the request to join waits for them"
    permanent = True


class NotGroupAdmin(TransportError):
    """The change needs the session's number to be an admin of the group (or the group's owner)."""

    status = 403
    default_message = "The session's number is not an admin of this group"
    permanent = True


@dataclass(frozen=True, slots=True)
class GroupParticipant:
    jid: str  # phone-number JID
    lid: str | None = None
    is_admin: bool = False
    is_super_admin: bool = False  # the group's creator (owner)
    name: str | None = None


@dataclass(frozen=True, slots=True)
class GroupSettings:
    announce: bool = False  # only admins send messages
    locked: bool = False  # only admins edit the group's subject, description and picture
    join_approval: bool = False  # an admin approves whoever joins by link
    disappearing: int = 0  # seconds a message lives (0: off); WhatsApp offers 86400, 604800 and 7776000


@dataclass(frozen=True, slots=True)
class Group:
    jid: str
    subject: str
    description: str = ""
    owner: str | None = None
    created_at: float = 0.0  # seconds since the epoch
    settings: GroupSettings = field(default_factory=GroupSettings)
    participants: tuple[GroupParticipant, ...] = ()
    is_community: bool = False
    community: str | None = None  # the community this group is linked to


@dataclass(frozen=True, slots=True)
class ParticipantResult:
    jid: str
    outcome: ParticipantOutcome
    code: int = 0  # WhatsApp's own code for this participant (0 or 200: done; 403 invite, 404, 408, 409 …)
    invite_code: str | None = None
    invite_expires: float | None = None


@dataclass(frozen=True, slots=True)
class JoinRequest:
    jid: str
    requested_at: float = 0.0


# --- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupJoined(TransportEvent):
    """The session's number was added to a group, joined one by link, or created one."""

    group: Group
    by: str | None = None  # who added it (None: the session itself)
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupLeft(TransportEvent):
    """The session's number left a group or was removed from it."""

    jid: str
    by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupParticipantsChanged(TransportEvent):
    jid: str
    action: Literal["added", "removed", "promoted", "demoted"]
    participants: tuple[str, ...]
    by: str | None = None  # who did it (None: WhatsApp did not say, or they joined by link)
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupUpdated(TransportEvent):
    """The group's subject, description, settings, picture, invite link or community links changed."""

    jid: str
    changes: dict[str, object]  # GroupChangeKind → the new value
    by: str | None = None
    timestamp: float = 0.0


def is_group_jid(jid: str) -> bool:
    return jid.endswith("@" + GROUP_SERVER)


def mentioned(text: str, members: Mapping[str, str]) -> list[str]:
    """The JIDs a group text mentions, in order, each once; `members` maps a member's phone digits to the JID
    WhatsApp addresses them by. A number that is not a member is left as plain text."""
    found: list[str] = []
    for token in _MENTION.findall(text):
        picked = list(members.values()) if token.lower() in EVERYONE else [members[token]] if token in members else []
        found.extend(jid for jid in picked if jid not in found)
    return found
