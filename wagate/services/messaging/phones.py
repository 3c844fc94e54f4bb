"""Recipients: phone numbers in the forms people type, and WhatsApp JIDs, normalised for sending and storage.

A phone number becomes the digits of its E.164 form without "+" (`6281234567890`), the form WhatsApp uses in
a JID. A JID (`…@s.whatsapp.net`, a group `…@g.us`, a `…@lid`) is checked and kept. Used for single sends
and for every row of a broadcast CSV, so errors name the field the caller passes in.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers

from wagate.errors import Invalid

USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"

RecipientKind = Literal["phone", "user", "group", "lid", "newsletter", "status"]

# Only what people put between digits; letters (vanity numbers, "ext.") are refused rather than guessed at.
_PHONE_CHARS = re.compile(r"^\+?[\d\s\-().\/]+$")
_SEPARATORS = re.compile(r"[\s\-().\/]")
# E.164 allows at most 15 digits; the shortest real WhatsApp numbers have 7 or 8.
_USER_JID = re.compile(r"^(\d{6,15})(?::\d{1,3})?@(s\.whatsapp\.net|c\.us)$")  # c.us: the form WAHA users send
# Groups: "<creator>-<timestamp>@g.us" (old) or a bare 18-digit id (since 2020).
_GROUP_JID = re.compile(r"^\d{5,20}(?:-\d{5,20})?@g\.us$")
_LID_JID = re.compile(r"^(\d{5,20})(?::\d{1,3})?@lid$")
_NEWSLETTER_JID = re.compile(r"^\d{5,25}@newsletter$")
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where a message goes: `address` is what is stored in `messages.recipient`, `jid` what WhatsApp addresses."""

    address: str
    jid: str
    kind: RecipientKind


# Not a chat: a status is posted through the status API (`SendRequest.status`), never sent to by number or JID.
STATUS = Recipient(address="status@broadcast", jid="status@broadcast", kind="status")


def normalize_phone(value: str, default_region: str, *, field: str = "to") -> str:
    """A phone number as E.164 digits without "+"; `Invalid` with `details={field: why}` otherwise.

    - "+62 812-3456-7890" and "0062…": international;
    - "0812…": national in `default_region`;
    - bare digits ("62812…", "812…"): a mobile number of `default_region` first (people drop the leading 0,
      and `phonenumbers` strips a leading country code of the region), then a full international number
      ("14155552671"), then any other valid number of the region. A foreign number that is also a valid
      local mobile number reads as local: such callers should write the "+".
    """
    raw = value.strip() if isinstance(value, str) else ""
    if not raw:
        raise Invalid("Invalid recipient", details={field: "is required"})
    if not _PHONE_CHARS.match(raw):
        raise Invalid("Invalid recipient", details={field: "is not a phone number or WhatsApp JID"})
    digits = _SEPARATORS.sub("", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("+"):
        number = _parse(digits, None)
    elif digits.startswith("0"):
        number = _parse(digits, default_region)
    else:
        local = _parse(digits, default_region)
        if local is not None and phonenumbers.number_type(local) in _MOBILE_TYPES:
            number = local
        else:
            number = _parse("+" + digits, None) or local
    if number is None:
        raise Invalid("Invalid recipient", details={field: f"{raw!r} is not a valid phone number"})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]


def normalize_recipient(value: str, default_region: str, *, field: str = "to") -> Recipient:
    """A phone number or a JID as a `Recipient`; `Invalid` with `details={field: why}` otherwise."""
    return _recipient(value.strip() if isinstance(value, str) else "", default_region, field)


# Senders write to the same customers again and again, and parsing a number costs ~100 µs: remember the last
# few thousand answers (a refusal raises, so it is never remembered).
@functools.lru_cache(maxsize=16384)
def _recipient(raw: str, default_region: str, field: str) -> Recipient:
    if "@" not in raw:
        digits = normalize_phone(raw, default_region, field=field)
        return Recipient(address=digits, jid=f"{digits}@{USER_SERVER}", kind="phone")
    jid = raw.lower()
    if match := _USER_JID.match(jid):
        # The device part (":12") addresses one linked device; a message goes to the account.
        jid = f"{match.group(1)}@{USER_SERVER}"
        return Recipient(address=jid, jid=jid, kind="user")
    if _GROUP_JID.match(jid):
        return Recipient(address=jid, jid=jid, kind="group")
    if match := _LID_JID.match(jid):
        jid = f"{match.group(1)}@{LID_SERVER}"
        return Recipient(address=jid, jid=jid, kind="lid")
    if _NEWSLETTER_JID.match(jid):  # a channel: only its owner and admins can post to it
        return Recipient(address=jid, jid=jid, kind="newsletter")
    raise Invalid(
        "Invalid recipient",
        details={field: "is not a valid WhatsApp JID (expected <number>@s.whatsapp.net, <id>@g.us, <id>@lid, "
                        "or <id>@newsletter)"},
    )


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None
