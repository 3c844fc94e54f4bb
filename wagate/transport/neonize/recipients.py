"""Who a send goes to, and who a LID is: answers whatsmeow gives, remembered per session for a while.

neonize is imported inside the functions, as everywhere in the transport (pitfall 10).

- A phone number's WhatsApp id is not always its digits (Brazil and Mexico drop or add a digit), so the first
  send to a number asks WhatsApp (`is_on_whatsapp`) and sends to the JID it answers; a number not on WhatsApp
  fails at once. Answers are kept `FOUND_TTL_S` (not found: `MISSING_TTL_S`, as people join).
- A sender addressed by LID without its phone number alongside is looked up in whatsmeow's LID map
  (`get_pn_from_lid`), which whatsmeow fills from the traffic it sees.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from wagate.errors import InvalidRecipient, RecipientNotOnWhatsApp

if TYPE_CHECKING:
    from neonize.aioze.client import NewAClient
    from neonize.proto.Neonize_pb2 import JID

FOUND_TTL_S = 24 * 3600.0
MISSING_TTL_S = 3600.0
REMEMBERED = 20_000  # numbers per session
_JID_SERVERS = frozenset({"s.whatsapp.net", "g.us", "lid", "newsletter", "broadcast"})
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def recipient_jid(to: str) -> JID:
    """A JID proto from a phone number (digits, maybe with +, spaces or dashes) or a JID string."""
    from neonize.utils.jid import build_jid

    to = to.strip()
    if "@" in to:
        user, _, server = to.partition("@")
        user = user.split(":", 1)[0].split(".", 1)[0]  # the device and agent parts address a device, not a chat
        if server not in _JID_SERVERS or not user or (server in {"s.whatsapp.net", "lid"} and not user.isdigit()):
            raise InvalidRecipient(f"Not a WhatsApp JID: {to!r}")
        return build_jid(user, server)
    digits = phone_digits(to)
    if digits is None:
        raise InvalidRecipient(f"Not a phone number or JID: {to!r}")
    return build_jid(digits)


def phone_digits(phone: str) -> str | None:
    """The digits of an international phone number, or None when it is not one."""
    digits = _PHONE_PUNCTUATION.sub("", phone.strip()).removeprefix("+")
    return digits if digits.isdigit() and 6 <= len(digits) <= 15 else None


class RecipientBook:
    """One session's remembered answers: phone digits → JID (or None: not on WhatsApp), LID → phone JID."""

    def __init__(self) -> None:
        self._numbers: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._lids: OrderedDict[str, str] = OrderedDict()

    async def resolve(self, client: NewAClient, digits: str) -> str:
        """The JID to send to for a phone number; raises RecipientNotOnWhatsApp where WhatsApp says so."""
        known = self._numbers.get(digits)
        if known is None or known[1] < time.monotonic():
            [answer] = await client.is_on_whatsapp(f"+{digits}")
            found = f"{answer.JID.User}@{answer.JID.Server}" if answer.IsIn and answer.JID.User else None
            known = (found, time.monotonic() + (FOUND_TTL_S if found else MISSING_TTL_S))
            self._numbers[digits] = known
            while len(self._numbers) > REMEMBERED:
                self._numbers.popitem(last=False)
        if known[0] is None:
            raise RecipientNotOnWhatsApp(f"+{digits} is not on WhatsApp")
        return known[0]

    async def phone_of_lid(self, client: NewAClient, lid: str) -> str | None:
        """The phone-number JID whatsmeow has mapped a LID to, or None when it has none."""
        if lid in self._lids:
            return self._lids[lid]
        from neonize.utils.jid import build_jid

        user, _, server = lid.partition("@")
        pn: Any = await client.get_pn_from_lid(build_jid(user, server))
        if not pn.User:
            return None
        phone = f"{pn.User}@{pn.Server}"
        self._lids[lid] = phone
        while len(self._lids) > REMEMBERED:
            self._lids.popitem(last=False)
        return phone
