"""What WhatsApp's servers and a phone produce, in their real formats, for the simulated transport.

QR strings and pairing codes follow whatsmeow (`makeQRData`, `PairPhone`); outgoing message ids are
`base.new_message_id`'s, incoming ones an Android phone's; LIDs are stable per phone number, as WhatsApp's are.
Also the link file (the simulator's stand-in for neonize's SQLite store) and the records the simulator keeps of
what it was asked to do, so tests can assert on them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from wagate.errors import InvalidRecipient
from wagate.transport import key_store
from wagate.transport.base import Account, Contact, MediaInfo, SendResult

USER_SERVER = "s.whatsapp.net"
GROUP_SERVER = "g.us"
LID_SERVER = "lid"

# whatsmeow encodes 5 random bytes with this alphabet (no 0, O, I, U: nothing to misread on a phone).
_PAIR_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
# The same test as the neonize transport's, so both refuse the same recipients as invalid.
_PHONE = re.compile(r"\d{6,15}")
_PHONE_PUNCTUATION = re.compile(r"[\s+\-().]")
_SERVERS = frozenset({USER_SERVER, GROUP_SERVER, LID_SERVER, "newsletter", "broadcast"})

_NAMES = (
    "Budi Santoso",
    "Siti Rahayu",
    "Andi Wijaya",
    "Dewi Lestari",
    "Rizky Pratama",
    "Putri Ayu",
    "Agus Setiawan",
    "Nur Hidayah",
    "Fajar Nugroho",
    "Maya Sari",
)


class PhoneActionError(ValueError):
    """The phone side asked for something WhatsApp would refuse (no QR on screen, a wrong pairing code …)."""


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message the simulated WhatsApp accepted; `seq` orders it against typing and read marks."""

    seq: int
    session_id: str
    to: str  # the recipient's JID, normalised as WhatsApp addressed it
    kind: str  # text | image | video | audio | document | location
    text: str | None  # the text, the caption, or the location's name
    message_id: str
    timestamp: float
    reply_to: str | None = None
    media: MediaInfo | None = None
    location: tuple[float, float] | None = None
    at: float = field(default_factory=time.time)  # when WhatsApp accepted it, to the microsecond (pacing tests)


@dataclass(frozen=True, slots=True)
class TypingShown:
    seq: int
    session_id: str
    chat: str
    typing: bool


@dataclass(frozen=True, slots=True)
class ReadMarked:
    seq: int
    session_id: str
    chat: str
    sender: str
    message_ids: tuple[str, ...]


def device_keys() -> tuple[str, str, str]:
    """A new unlinked device's noise public key, identity public key and adv secret, base64 as in the QR."""
    noise, identity, adv = (base64.b64encode(os.urandom(32)).decode() for _ in range(3))
    return noise, identity, adv


def qr_code(keys: tuple[str, str, str]) -> str:
    """`<ref>,<noise key>,<identity key>,<adv secret>`: the server sends a new ref per rotation, the keys stay."""
    ref = "2@" + base64.b64encode(os.urandom(66)).decode()
    return ",".join((ref, *keys))


def pairing_code() -> str:
    """Eight characters of whatsmeow's linking alphabet, shown as "ABCD-EFGH"."""
    bits = int.from_bytes(os.urandom(5))
    code = "".join(_PAIR_ALPHABET[(bits >> shift) & 31] for shift in range(35, -1, -5))
    return f"{code[:4]}-{code[4:]}"


def incoming_message_id() -> str:
    """An id as an Android phone makes them: 32 upper-case hex digits."""
    return os.urandom(16).hex().upper()


def lid_for(phone: str) -> str:
    """The phone's LID: a 15-digit number unrelated to the phone number but the same every time."""
    digest = hashlib.sha256(f"lid:{phone}".encode()).digest()
    return f"{10**14 + int.from_bytes(digest[:8]) % (9 * 10**14)}@{LID_SERVER}"


def group_jid_for(session_id: str) -> str:
    digest = hashlib.sha256(f"group:{session_id}".encode()).digest()
    return f"120363{int.from_bytes(digest[:6]) % 10**12:012d}@{GROUP_SERVER}"


def phone_digits(phone: str) -> str | None:
    """Digits of a phone number in international form, or None when it cannot be one."""
    digits = _PHONE_PUNCTUATION.sub("", phone)
    return digits if _PHONE.fullmatch(digits) else None


def reachable(digits: str) -> bool:
    """Whether a number could be on WhatsApp at all: an international number, not a national one like 0812…"""
    return digits[0] != "0" and len(digits) >= 8


def recipient_jid(to: str) -> str:
    """Normalise a phone number or JID the way WhatsApp addresses it; raise `InvalidRecipient` otherwise."""
    to = to.strip()
    user, at, server = to.partition("@")
    if not at:
        digits = phone_digits(to)
        if digits is None:
            raise InvalidRecipient(f"not a phone number or JID: {to!r}")
        return f"{digits}@{USER_SERVER}"
    user = user.split(":", 1)[0].split(".", 1)[0]  # the device and agent parts address a device, not a chat
    if server not in _SERVERS or not user or (server in (USER_SERVER, LID_SERVER) and not user.isdigit()):
        raise InvalidRecipient(f"not a WhatsApp JID: {to!r}")
    return f"{user}@{server}"


def address_book(session_id: str) -> list[Contact]:
    """The contacts saved on a session's phone: five, the same for the same session id every time."""
    digest = hashlib.sha256(f"contacts:{session_id}".encode()).digest()
    contacts = []
    for n in range(5):
        phone = f"62812{int.from_bytes(digest[n * 4 : n * 4 + 4]) % 10**8:08d}"
        name = _NAMES[(digest[20 + n] + n) % len(_NAMES)]
        contacts.append(Contact(jid=f"{phone}@{USER_SERVER}", phone=phone, name=name, push_name=name.split()[0]))
    return contacts


def sent_log_file(state_dir: Path) -> Path:
    """The durable record of accepted sends; session ids start with a letter or digit, so no session owns it."""
    return state_dir / "_simulator_sent.jsonl"


@dataclass
class SentLog:
    """The sent log of one process: it appends this process's sends and takes in what any process appended."""

    path: Path
    read_to: int = 0  # bytes `new_results` has taken in already

    def append(self, sent: SentMessage) -> None:
        """One JSON line per accepted send, on disk before the send returns: it outlives a killed process."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"seq": sent.seq, "session_id": sent.session_id, "to": sent.to, "kind": sent.kind,
                           "text": sent.text, "message_id": sent.message_id, "timestamp": sent.timestamp,
                           "at": sent.at, "pid": os.getpid()})
        with self.path.open("a", encoding="utf-8") as f:  # closing flushes to the kernel, which keeps it past SIGKILL
            f.write(line + "\n")

    def new_results(self) -> dict[tuple[str, str], SendResult]:
        """The answers to the sends logged since the last call, by (session id, message id)."""
        lines, self.read_to = read_sent_log_from(self.path, self.read_to)
        # A log written before sends logged their timestamp gives the second the send was accepted in.
        return {(line["session_id"], line["message_id"]): SendResult(
            line["message_id"], float(line.get("timestamp", int(line["at"])))) for line in lines}


def read_sent_log(path: Path) -> list[dict[str, object]]:
    """The lines a `SentLog` wrote, in order; a missing file is an empty log."""
    return read_sent_log_from(path, 0)[0]


def read_sent_log_from(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The whole lines written after byte `offset`, and the offset after them (a line being written waits)."""
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    whole = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in whole.splitlines() if line.strip()], offset + len(whole)


def link_file(state_dir: Path, session_id: str) -> Path:
    return key_store.simulator_link(state_dir, session_id)


def load_link(state_dir: Path, session_id: str) -> Account | None:
    """The account a session is linked to, or None when it has no link file."""
    try:
        return Account(**json.loads(link_file(state_dir, session_id).read_text())["account"])
    except FileNotFoundError:
        return None


def save_link(state_dir: Path, session_id: str, account: Account) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = link_file(state_dir, session_id)
    tmp = path.with_suffix(".tmp")
    # Written aside then renamed, so a crash mid-write never leaves half a link behind.
    tmp.write_text(json.dumps({"account": asdict(account), "linked_at": time.time()}))
    os.replace(tmp, path)
