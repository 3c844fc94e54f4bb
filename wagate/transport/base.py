"""The WhatsApp transport interface: what the bridge asks of WhatsApp, and the events it hears back.

Two implementations stand behind it: `neonize.NeonizeTransport` (the real network, through whatsmeow)
and `simulator.SimulatorTransport` (an in-process fake for tests and demos). The bridge sees only this
module. One transport object drives many sessions, each named by the gateway's session id; events for
every session go to the one `EventSink` the transport was built with.

Failures are raised as `wagate.errors.TransportError` subclasses; `permanent` tells the sender whether
a retry can help.

Each send takes the WhatsApp message id to send under (`message_id`, made by `new_message_id`), as WhatsApp's
own clients choose the id of what they send: recipients discard a message whose id they already have, so
sending again under the same id cannot show the message twice. A transport that cannot pass the id on
ignores it and answers with the id WhatsApp used.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

MediaKind = Literal["image", "document", "audio", "video"]
ReceiptKind = Literal["delivered", "read", "played"]
ChangeKind = Literal["edited", "revoked", "reaction", "poll_vote"]


@dataclass(frozen=True, slots=True)
class Account:
    """The WhatsApp account a session is linked to."""

    jid: str  # phone-number JID with device, e.g. "6281234567890:12@s.whatsapp.net"
    phone: str  # digits only, e.g. "6281234567890"
    lid: str | None = None
    push_name: str | None = None
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    jid: str
    phone: str | None
    name: str | None = None  # the name saved on the phone
    push_name: str | None = None  # the name the contact chose
    business_name: str | None = None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    kind: str  # image | video | audio | document | sticker
    mimetype: str | None = None
    filename: str | None = None
    size: int | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    message_id: str
    timestamp: float  # seconds since the epoch, as WhatsApp stamped it


def new_message_id() -> str:
    """A message id as whatsmeow makes them for messages this device sends: "3EB0" and 18 upper-case hex digits."""
    return "3EB0" + os.urandom(9).hex().upper()


# --- events ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportEvent:
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QRCodeIssued(TransportEvent):
    """A new QR code to scan; `expires_in` is how long WhatsApp keeps it valid (seconds)."""

    code: str
    expires_in: float


@dataclass(frozen=True, slots=True, kw_only=True)
class QRCodesExhausted(TransportEvent):
    """No QR code was scanned before the last one expired; the transport has stopped the session."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Paired(TransportEvent):
    """The phone scanned the QR code (or entered the pairing code) and the device is now linked."""

    account: Account


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected(TransportEvent):
    account: Account


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(TransportEvent):
    """The connection dropped; `will_reconnect` says whether the transport is already retrying."""

    reason: str
    will_reconnect: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectFailed(TransportEvent):
    """Connecting failed; `permanent` means retrying cannot help (banned, client outdated …)."""

    reason: str
    permanent: bool = False
    retry_in: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedOut(TransportEvent):
    """The device was unlinked (from the phone, or by `logout`); the stored keys are gone."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(TransportEvent):
    message_id: str
    chat: str  # JID of the chat (the sender for a direct message, the group otherwise)
    sender: str  # phone-number JID of the sender, even when WhatsApp addressed it by LID
    sender_lid: str | None = None
    push_name: str | None = None
    is_group: bool = False
    from_me: bool = False
    type: str = "text"  # text | image | video | audio | document | sticker | location | contact | reaction | other
    text: str | None = None
    media: MediaInfo | None = None
    quoted_message_id: str | None = None
    timestamp: float = 0.0  # seconds since the epoch


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageChanged(TransportEvent):
    """A message was edited, deleted for everyone (revoked), reacted to, or voted on (a poll); not a new message.

    `text` is the new text of an edit, or the emoji of a reaction (None: the reaction was taken back).
    """

    change: ChangeKind
    message_id: str  # WhatsApp id of the message changed
    change_id: str  # WhatsApp id of the message that carried the change
    chat: str
    sender: str  # phone-number JID of who changed it, as in MessageReceived
    from_me: bool = False
    text: str | None = None
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptReceived(TransportEvent):
    kind: ReceiptKind
    chat: str
    message_ids: tuple[str, ...]
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallsAbandoned(TransportEvent):
    """A call into the WhatsApp library never returned and was given up (it keeps its thread and memory);
    `count` of them are held by this process now. At `limit` the process should be restarted to free them."""

    count: int
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StoresLeftOpen(TransportEvent):
    """The WhatsApp library opened a store on each connect attempt and never closed it (a file descriptor and
    memory each); `count` of them are held by this process now. At `limit` the process should be restarted."""

    count: int
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactUpdated(TransportEvent):
    contact: Contact = field()


EventSink = Callable[[TransportEvent], Awaitable[None]]


# --- the interface -----------------------------------------------------------------------------------


class WhatsAppTransport(abc.ABC):
    """Drives the WhatsApp connections of many sessions and reports their events to one sink."""

    # Whether a send goes out under the `message_id` it is given, so that sending again cannot show a message twice.
    # Without it, a send whose outcome is unknown (a crash, a timeout) is not sent again but reported as unknown.
    keeps_message_ids = True

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink

    @abc.abstractmethod
    async def connect(self, session_id: str) -> None:
        """Start connecting: QR codes (if not linked yet), then `Connected`, arrive as events.

        Returns once the attempt is under way; a session already connecting or connected is left alone.
        """

    @abc.abstractmethod
    async def pair_phone(self, session_id: str, phone: str) -> str:
        """Ask WhatsApp for an 8-character pairing code to type on the phone instead of scanning."""

    @abc.abstractmethod
    async def stop(self, session_id: str) -> None:
        """Close the connection and keep the link (the next `connect` needs no QR)."""

    @abc.abstractmethod
    async def logout(self, session_id: str) -> None:
        """Unlink the device and delete its keys; emits `LoggedOut`."""

    @abc.abstractmethod
    async def is_connected(self, session_id: str) -> bool: ...

    @abc.abstractmethod
    async def account(self, session_id: str) -> Account | None:
        """The linked account, or None while the session is not logged in."""

    @abc.abstractmethod
    async def send_text(
        self, session_id: str, to: str, text: str, *, reply_to: str | None = None, message_id: str | None = None
    ) -> SendResult:
        """Send exactly `text` (no mention parsing) to a phone number or JID, under `message_id` if given."""

    @abc.abstractmethod
    async def send_media(
        self,
        session_id: str,
        to: str,
        kind: MediaKind,
        data: bytes,
        *,
        mimetype: str,
        filename: str | None = None,
        caption: str | None = None,
        message_id: str | None = None,
    ) -> SendResult: ...

    @abc.abstractmethod
    async def send_location(
        self,
        session_id: str,
        to: str,
        latitude: float,
        longitude: float,
        *,
        name: str | None = None,
        address: str | None = None,
        message_id: str | None = None,
    ) -> SendResult: ...

    @abc.abstractmethod
    async def mark_read(self, session_id: str, chat: str, sender: str, message_ids: Sequence[str]) -> None: ...

    @abc.abstractmethod
    async def set_typing(self, session_id: str, chat: str, typing: bool) -> None:
        """Show (or stop showing) "typing…" in a chat."""

    @abc.abstractmethod
    async def on_whatsapp(self, session_id: str, phones: Sequence[str]) -> dict[str, str | None]:
        """Map each phone number to its WhatsApp JID, or None when the number is not on WhatsApp."""

    @abc.abstractmethod
    async def contacts(self, session_id: str) -> list[Contact]: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop every session cleanly (keeping their links); the transport is unusable afterwards."""

    # --- liveness ---

    async def ping(self, session_id: str) -> bool:
        """Whether the session's connection answers a round trip to WhatsApp now; asked of a session that has been
        quiet for long (the bridge's silent-session check). False rather than an error when it does not."""
        return await self.is_connected(session_id)
