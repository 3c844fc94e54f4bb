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
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from wagate.errors import TransportError
from wagate.transport.outgoing import OutgoingMessage

if TYPE_CHECKING:
    from .groups import Group, JoinRequest, ParticipantAction, ParticipantResult, RequestAction


MediaKind = Literal["image", "document", "audio", "video"]
ReceiptKind = Literal["delivered", "read", "played"]
ChangeKind = Literal["edited", "revoked", "reaction", "poll_vote"]
PresenceState = Literal["available", "unavailable", "composing", "recording", "paused"]


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
    sha256: str | None = None  # hex SHA-256 of the plain file (WhatsApp's fileSHA256)
    width: int | None = None
    height: int | None = None
    seconds: int | None = None  # length of audio and video
    ptt: bool = False  # an audio recorded as a voice note
    has_thumbnail: bool = False
    # What the transport needs to download the file later (neonize: whatsmeow's directPath, mediaKey …); opaque to
    # everything else, kept server-side and never put in an event, a webhook or a log line.
    download: dict[str, Any] | None = field(default=None, repr=False, compare=False)


# --- what a received message carries besides its text and media --------------------------------------


@dataclass(frozen=True, slots=True)
class Quoted:
    """The message a received one replies to, as the reply carries it."""

    message_id: str
    sender: str | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    url: str | None = None
    live: bool = False  # a live location's update (its position now)
    accuracy_m: int | None = None
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class SharedContact:
    """A contact card (vCard) sent in a message."""

    name: str | None
    vcard: str | None = None
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Poll:
    question: str
    options: tuple[str, ...]
    selectable_count: int = 1  # 0: any number of options


@dataclass(frozen=True, slots=True)
class LinkPreview:
    url: str | None = None
    title: str | None = None
    description: str | None = None
    has_thumbnail: bool = False


def poll_option_hash(option: str) -> str:
    """How WhatsApp names a poll option in a vote: the hex SHA-256 of its text."""
    return hashlib.sha256(option.encode()).hexdigest()


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
    # text | image | video | audio | document | sticker | location | live_location | contact | poll | unknown
    type: str = "text"
    text: str | None = None  # the text, or a medium's caption
    media: MediaInfo | None = None
    quoted_message_id: str | None = None
    timestamp: float = 0.0  # seconds since the epoch
    quoted: Quoted | None = None
    mentions: tuple[str, ...] = ()  # JIDs mentioned with @
    location: Location | None = None
    contacts: tuple[SharedContact, ...] = ()
    poll: Poll | None = None
    link_preview: LinkPreview | None = None
    forwarded: bool = False
    unknown: tuple[str, ...] = ()  # for type "unknown": the names of the parts the gateway does not know


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
    # A poll vote's choice, as WhatsApp names options in a vote: `poll_option_hash` of each chosen option (none: the
    # vote was taken back). None when the vote could not be decrypted.
    option_hashes: tuple[str, ...] | None = None


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


# --- status, channels, calls, labels, proxy: data and events ---

STATUS_JID = "status@broadcast"  # where statuses (stories) are posted and where contacts' statuses come from


@dataclass(frozen=True, slots=True)
class Newsletter:
    """A WhatsApp channel as the session sees it; `role` is the session's: owner, admin, subscriber or guest."""

    jid: str  # "<digits>@newsletter"
    name: str
    description: str | None = None
    invite_code: str | None = None
    subscribers: int | None = None
    role: str | None = None
    muted: bool | None = None
    verified: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallOffered(TransportEvent):
    """Someone is calling the session's number (ringing until it is answered, rejected, or ends)."""

    call_id: str
    caller: str  # phone-number JID of the caller, even when WhatsApp addressed it by LID
    caller_lid: str | None = None
    video: bool = False
    group: bool = False
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(TransportEvent):
    call_id: str
    caller: str
    reason: str | None = None  # WhatsApp's own word, e.g. "timeout", "busy", "reject"
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceUpdated(TransportEvent):
    """A contact is online or offline (`chat` is their own JID), or typing / recording / paused in `chat`."""

    chat: str
    sender: str  # phone-number JID where known, as in MessageReceived
    state: PresenceState
    last_seen: float | None = None  # seconds since the epoch, when WhatsApp tells it with "unavailable"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistorySynced(TransportEvent):
    """Old messages the phone sent at link time (one chunk of them): to store, never to announce as new."""

    messages: tuple[MessageReceived, ...]
    sync_type: str = "recent"  # WhatsApp's name of the chunk: initial_bootstrap, recent, full, on_demand …
    progress: int | None = None  # percent of the whole history, when WhatsApp tells it
# --- chats and contacts -------------------------------------------------------------------------------

ChatPresenceKind = Literal["typing", "recording", "paused"]


@dataclass(frozen=True, slots=True)
class UserInfo:
    """What WhatsApp tells of an account: its about text, picture id, business name and devices."""

    jid: str
    about: str | None = None
    picture_id: str | None = None
    verified_name: str | None = None  # the business's name, verified by WhatsApp
    lid: str | None = None
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProfilePicture:
    url: str
    id: str
    type: str = "image"  # image | preview


@dataclass(frozen=True, slots=True)
class BusinessProfile:
    jid: str
    email: str | None = None
    address: str | None = None
    description: str | None = None
    website: tuple[str, ...] = ()
    category: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatStateChanged(TransportEvent):
    """The session's own side changed a chat (here or on the phone): read, archived, pinned or muted.

    A field left None did not change; `muted_until` is seconds since the epoch, 0 for "muted for ever".
    """

    chat: str
    read: bool | None = None
    archived: bool | None = None
    pinned: bool | None = None
    muted: bool | None = None
    muted_until: float | None = None
    timestamp: float = 0.0


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

    # --- message kinds ---

    @abc.abstractmethod
    async def send(
        self, session_id: str, to: str, message: OutgoingMessage, *, message_id: str | None = None
    ) -> SendResult:
        """Send a message of any kind (`wagate.transport.outgoing`) to a phone number or JID, under `message_id`."""
    # --- chats and contacts ---
    # Not abstract: a transport that lacks one refuses it with a TransportError naming what is missing.

    def _lacks(self, what: str) -> TransportError:
        return TransportError(f"{what} is not available on this transport")

    async def send_chat_presence(self, session_id: str, chat: str, state: ChatPresenceKind) -> None:
        """Show "typing…" or "recording audio…" in a chat, or stop showing it (`paused`)."""
        raise self._lacks("chat presence")

    async def set_presence(self, session_id: str, available: bool) -> None:
        """The session's own presence: online (available) or offline, as contacts see it."""
        raise self._lacks("presence")

    async def archive_chat(self, session_id: str, chat: str, archived: bool) -> None:
        raise self._lacks("archiving chats")

    async def pin_chat(self, session_id: str, chat: str, pinned: bool) -> None:
        raise self._lacks("pinning chats")

    async def mute_chat(self, session_id: str, chat: str, muted: bool, until: float | None = None) -> None:
        """Mute a chat until `until` (seconds since the epoch; None: for ever), or unmute it."""
        raise self._lacks("muting chats")

    async def mark_chat_read(self, session_id: str, chat: str) -> None:
        """Mark the whole chat read in WhatsApp's app state (the phone's unread badge goes too)."""
        raise self._lacks("marking chats read")

    async def user_info(self, session_id: str, jids: Sequence[str]) -> dict[str, UserInfo]:
        raise self._lacks("contact info")

    async def profile_picture(self, session_id: str, jid: str, *, preview: bool = False) -> ProfilePicture | None:
        """The URL of the picture of a contact, a group or the session itself; None when it has none shown."""
        raise self._lacks("profile pictures")

    async def business_profile(self, session_id: str, jid: str) -> BusinessProfile | None:
        raise self._lacks("business profiles")

    async def blocklist(self, session_id: str) -> list[str]:
        raise self._lacks("the block list")

    async def set_blocked(self, session_id: str, jid: str, blocked: bool) -> list[str]:
        """Block or unblock a contact; the block list afterwards."""
        raise self._lacks("blocking")

    async def set_push_name(self, session_id: str, name: str) -> None:
        raise self._lacks("changing the push name")

    async def set_about(self, session_id: str, text: str) -> None:
        raise self._lacks("changing the about text")

    async def set_profile_picture(self, session_id: str, data: bytes) -> str:
        """Set the session's own picture (JPEG); the new picture's id."""
        raise self._lacks("changing the profile picture")

    async def lid_of(self, session_id: str, phone_jid: str) -> str | None:
        """The LID WhatsApp knows for a phone-number JID, or None."""
        raise self._lacks("LID lookup")

    async def phone_of(self, session_id: str, lid: str) -> str | None:
        """The phone-number JID WhatsApp knows for a LID, or None."""
        raise self._lacks("LID lookup")
    # --- groups ---
    # Answer a group the session's number is not in with `groups.GroupNotFound`, and a change only admins may make
    # with `groups.NotGroupAdmin`; JIDs of groups end in "@g.us", participants are phone numbers or JIDs.

    @abc.abstractmethod
    async def groups(self, session_id: str) -> list[Group]:
        """Every group and community the session's number is in."""

    @abc.abstractmethod
    async def group(self, session_id: str, jid: str) -> Group: ...

    @abc.abstractmethod
    async def create_group(self, session_id: str, subject: str, participants: Sequence[str], *,
                           community: bool = False, parent: str | None = None) -> Group:
        """A new group (or a community) with the session's number as its owner; `parent` links it to a community."""

    @abc.abstractmethod
    async def leave_group(self, session_id: str, jid: str) -> None: ...

    @abc.abstractmethod
    async def change_participants(self, session_id: str, jid: str, action: ParticipantAction,
                                  participants: Sequence[str]) -> list[ParticipantResult]:
        """Add, remove, promote or demote; what WhatsApp did for each participant."""

    @abc.abstractmethod
    async def join_requests(self, session_id: str, jid: str) -> list[JoinRequest]: ...

    @abc.abstractmethod
    async def answer_join_requests(self, session_id: str, jid: str, action: RequestAction,
                                   participants: Sequence[str]) -> list[ParticipantResult]: ...

    @abc.abstractmethod
    async def invite_link(self, session_id: str, jid: str, *, reset: bool = False) -> str:
        """The group's invite link; `reset` revokes the current one and answers the new one."""

    @abc.abstractmethod
    async def join_group(self, session_id: str, code: str) -> str:
        """Join by an invite link or its code; the group's JID."""

    @abc.abstractmethod
    async def invite_preview(self, session_id: str, code: str) -> Group:
        """The group an invite link or code leads to, without joining it."""

    @abc.abstractmethod
    async def update_group(self, session_id: str, jid: str, *, subject: str | None = None,
                           description: str | None = None, announce: bool | None = None, locked: bool | None = None,
                           join_approval: bool | None = None, disappearing: int | None = None) -> None:
        """Change what is given (None: left as it is), one change after the other as WhatsApp takes them."""

    @abc.abstractmethod
    async def set_group_picture(self, session_id: str, jid: str, image: bytes) -> str:
        """Set the group's picture from JPEG bytes; the new picture's id."""

    @abc.abstractmethod
    async def link_group(self, session_id: str, community: str, jid: str) -> None: ...

    @abc.abstractmethod
    async def unlink_group(self, session_id: str, community: str, jid: str) -> None: ...

    @abc.abstractmethod
    async def community_groups(self, session_id: str, community: str) -> list[Group]:
        """The groups linked to a community (their JID and subject; details through `group`)."""

    # --- status, channels, calls, labels, proxy ---
    # Not abstract: a transport without them answers that it cannot, and everything else keeps working.

    async def use_proxy(self, session_id: str, proxy_url: str | None) -> None:
        """The proxy (http://, https:// or socks5://, maybe with credentials) the session's next connect dials
        through; None: connect directly. A proxy that fails makes the connect fail with a reason naming it."""
        if proxy_url is not None:
            raise TransportError("this transport cannot connect through a proxy")

    async def reject_call(self, session_id: str, caller: str, call_id: str) -> None:
        raise TransportError("this transport cannot reject calls")

    async def send_status_text(
        self, session_id: str, text: str, *, background_argb: int | None = None, font: int | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        """Post a text status (story) on its coloured background, in one of WhatsApp's status fonts (0-9)."""
        raise TransportError("this transport cannot post statuses")

    async def newsletters(self, session_id: str) -> list[Newsletter]:
        """The channels the session follows or owns."""
        raise TransportError("this transport cannot list channels")

    async def newsletter(self, session_id: str, *, jid: str | None = None, invite: str | None = None) -> Newsletter:
        """One channel, by its JID or by the code of its invite link (whatsapp.com/channel/<code>)."""
        raise TransportError("this transport cannot look channels up")

    async def follow_newsletter(self, session_id: str, jid: str, follow: bool) -> None:
        raise TransportError("this transport cannot follow channels")

    # --- media ---

    def download_media(self, session_id: str, handle: dict[str, Any]) -> AsyncIterator[bytes]:
        """The bytes of a received medium (`MediaInfo.download`), decrypted, in chunks; `TransportError` when
        WhatsApp no longer has it or refuses. Transports that cannot download say so."""
        raise TransportError("this transport cannot download media")
    # --- liveness ---

    async def ping(self, session_id: str) -> bool:
        """Whether the session's connection answers a round trip to WhatsApp now; asked of a session that has been
        quiet for long (the bridge's silent-session check). False rather than an error when it does not."""
        return await self.is_connected(session_id)
