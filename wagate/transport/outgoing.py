"""What a send asks WhatsApp to show: one typed description per message kind, handed to `WhatsAppTransport.send`.

One method taking a description, rather than one method per kind, keeps the interface small while the kinds grow
(each transport maps the description to its own wire form in one place) and lets the parts every kind shares (the
quoted message, mentions, "forwarded") be said once. The descriptions are plain data: the bridge builds them from
a queued row, the simulator records them, the neonize transport turns them into WhatsApp's protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

OutgoingMediaKind = Literal["image", "video", "audio", "document", "sticker"]


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a send replies to, as stored by the gateway (WhatsApp shows the quote from this copy)."""

    message_id: str
    sender: str | None = None  # phone-number JID of who wrote it; None: this session
    from_me: bool = False
    text: str | None = None  # its text or caption, shown in the quote


@dataclass(frozen=True, slots=True)
class Decorations:
    """What any chat message may carry besides its content."""

    quote: Quote | None = None
    mentions: tuple[str, ...] = ()  # JIDs mentioned ("@<digits>" in the text)
    forwarded: bool = False


@dataclass(frozen=True, slots=True)
class LinkPreview:
    url: str  # the link as it appears in the text (WhatsApp's matchedText)
    title: str | None = None
    description: str | None = None
    thumbnail: bytes | None = field(default=None, repr=False)  # a small JPEG


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    preview: LinkPreview | None = None
    extras: Decorations = Decorations()


@dataclass(frozen=True, slots=True)
class Media:
    """An image, video, audio (voice note with `ptt`), document or sticker, already in the form WhatsApp plays."""

    kind: OutgoingMediaKind
    data: bytes = field(repr=False)
    mimetype: str
    file_name: str | None = None
    caption: str | None = None
    width: int | None = None
    height: int | None = None
    seconds: int | None = None  # duration of audio and video
    thumbnail: bytes | None = field(default=None, repr=False)  # JPEG, for images, videos and documents
    ptt: bool = False  # a voice note (Opus in Ogg)
    gif_playback: bool = False  # a video played muted and looped, as WhatsApp shows GIFs
    page_count: int | None = None  # documents (PDF)
    extras: Decorations = Decorations()


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    live: bool = False  # a live location; `caption` then says what it is
    caption: str | None = None
    extras: Decorations = Decorations()


@dataclass(frozen=True, slots=True)
class ContactCard:
    name: str  # the name shown on the card
    vcard: str


@dataclass(frozen=True, slots=True)
class Contacts:
    cards: tuple[ContactCard, ...]
    extras: Decorations = Decorations()


@dataclass(frozen=True, slots=True)
class Poll:
    question: str
    options: tuple[str, ...]
    selectable: int = 1  # how many options a voter may choose (0: any number)
    extras: Decorations = Decorations()


@dataclass(frozen=True, slots=True)
class Target:
    """A message already in the chat that a reaction, edit or revoke is about."""

    message_id: str
    chat: str  # JID of its chat
    from_me: bool
    sender: str | None = None  # phone-number JID of who wrote it, when not this session


@dataclass(frozen=True, slots=True)
class Reaction:
    target: Target
    emoji: str  # "": the reaction is taken back


@dataclass(frozen=True, slots=True)
class Edit:
    target: Target
    text: str


@dataclass(frozen=True, slots=True)
class Revoke:
    """Delete for everyone."""

    target: Target


OutgoingMessage = Text | Media | Location | Contacts | Poll | Reaction | Edit | Revoke


def kind_of(message: OutgoingMessage) -> str:
    """The kind's name as the gateway says it: text, image, …, voice, gif, live_location, contact, poll, …"""
    if isinstance(message, Media):
        if message.ptt:
            return "voice"
        return "gif" if message.gif_playback else message.kind
    if isinstance(message, Location):
        return "live_location" if message.live else "location"
    return {Text: "text", Contacts: "contact", Poll: "poll", Reaction: "reaction", Edit: "edit",
            Revoke: "revoke"}[type(message)]
