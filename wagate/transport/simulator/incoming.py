"""The simulated contacts' side of a chat: every kind of message they send, and what they do to messages.

A contact sends text (with a link preview, mentions, a quote, forwarded), a medium (image, video, audio or voice
note, document, sticker: its bytes kept so the session can download them), a location or live location, contact
cards, a poll, or a kind WhatsApp has and the gateway does not know; reacts to, edits, deletes for everyone and
votes on messages; is online, offline, typing or recording; and the phone sends its history at link time. Each
action reaches the bridge only as the transport event real WhatsApp would cause, held while the session is
offline like any other.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from wagate.transport.base import (
    ChangeKind,
    HistorySynced,
    LinkPreview,
    Location,
    MediaInfo,
    MessageChanged,
    MessageReceived,
    Poll,
    PresenceState,
    PresenceUpdated,
    Quoted,
    SharedContact,
    poll_option_hash,
)
from wagate.transport.simulator import wire
from wagate.transport.simulator.session import SimSession, SimulatorBase
from wagate.transport.simulator.wire import PhoneActionError

SENDABLE_KINDS = ("text", "image", "video", "audio", "document", "sticker", "location", "live_location", "contact",
                  "poll", "unknown")
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
_MIMETYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg; codecs=opus",
              "document": "application/pdf", "sticker": "image/webp"}


def synthetic_media(size: int, seed: str) -> bytes:
    """`size` bytes that stand in for a medium nobody gave the bytes of (the same for the same seed)."""
    block = hashlib.sha256(seed.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


class SimulatorIncoming(SimulatorBase):
    """Phone-side controls of the contacts who write to the session."""

    def _contact(self, session_id: str, from_phone: str, via_lid: bool = False,
                 group: str | None = None) -> tuple[SimSession, str, str | None, str]:
        """(session, sender's phone JID, sender's LID or None, chat JID) of a contact writing to a linked session."""
        s = self._session(session_id)
        digits = wire.phone_digits(from_phone)
        if digits is None:
            raise PhoneActionError(f"not a phone number: {from_phone!r}")
        if s.account is None:
            raise PhoneActionError("the session is not linked")
        sender = f"{digits}@{wire.USER_SERVER}"
        lid = wire.lid_for(digits) if via_lid else None
        chat = wire.recipient_jid(group) if group else (lid or sender)
        return s, sender, lid, chat

    def _keep_media(self, kind: str, data: bytes | None, size: int | None, message_id: str
                    ) -> tuple[bytes, dict[str, Any]]:
        """The medium's bytes (made up when the test gives none) put on the simulated media server; its handle."""
        if data is None:
            data = synthetic_media(size or 1024, message_id)
        return data, self.upload_media(data)  # type: ignore[attr-defined]  # SimulatorMedia, a sibling mixin

    async def contact_sends(
        self, session_id: str, from_phone: str, kind: str = "text", *, text: str | None = None,
        push_name: str | None = None, via_lid: bool = False, group: str | None = None,
        quoted_message_id: str | None = None, mentions: Sequence[str] = (), forwarded: bool = False,
        data: bytes | None = None, size: int | None = None, mimetype: str | None = None, filename: str | None = None,
        width: int | None = None, height: int | None = None, seconds: int | None = None, ptt: bool = False,
        latitude: float | None = None, longitude: float | None = None, name: str | None = None,
        address: str | None = None, contacts: Sequence[dict[str, Any]] = (),
        question: str | None = None, options: Sequence[str] = (), selectable_count: int = 1,
        link: dict[str, str] | None = None, timestamp: float | None = None, deliver: bool = True,
    ) -> MessageReceived:
        """A contact sends the session a message of `kind` (see SENDABLE_KINDS) with what that kind carries."""
        if kind not in SENDABLE_KINDS:
            raise PhoneActionError(f"a contact cannot send {kind!r}; one of {', '.join(SENDABLE_KINDS)}")
        s, sender, lid, chat = self._contact(session_id, from_phone, via_lid, group)
        message_id = wire.incoming_message_id()
        details: dict[str, Any] = {}
        if kind in MEDIA_KINDS:
            blob, handle = self._keep_media(kind, data, size, message_id)
            details["media"] = MediaInfo(
                kind=kind, mimetype=mimetype or _MIMETYPES[kind], filename=filename, size=len(blob),
                caption=text if kind in ("image", "video", "document") else None,
                sha256=hashlib.sha256(blob).hexdigest(), width=width, height=height, seconds=seconds,
                ptt=ptt and kind == "audio", has_thumbnail=kind in ("image", "video"),
                download=handle)
        elif kind in ("location", "live_location"):
            if latitude is None or longitude is None:
                raise PhoneActionError("a location needs latitude and longitude")
            live = kind == "live_location"
            details["location"] = Location(latitude=latitude, longitude=longitude, name=None if live else name,
                                           address=None if live else address, live=live, caption=text)
        elif kind == "contact":
            if not contacts:
                raise PhoneActionError("a contact message needs at least one contact")
            details["contacts"] = tuple(_card(c) for c in contacts)
        elif kind == "poll":
            if not question or len(options) < 2:
                raise PhoneActionError("a poll needs a question and at least two options")
            details["poll"] = Poll(question=question, options=tuple(options), selectable_count=selectable_count)
        elif kind == "text" and link:
            details["link_preview"] = LinkPreview(url=link.get("url"), title=link.get("title"),
                                                  description=link.get("description"), has_thumbnail=True)
        elif kind == "unknown":
            details["unknown"] = ("futureMessage",)  # a kind newer than the gateway
        quoted = None
        if quoted_message_id is not None:
            quoted = Quoted(message_id=quoted_message_id, sender=s.account.jid if s.account else None)
        event = MessageReceived(
            session_id=session_id, message_id=message_id, chat=chat, sender=sender, sender_lid=lid,
            push_name=push_name, is_group=chat.endswith("@" + wire.GROUP_SERVER), type=kind,
            text=text if kind not in ("location", "live_location", "contact", "poll") else None,
            quoted_message_id=quoted_message_id, quoted=quoted,
            mentions=tuple(wire.recipient_jid(m) for m in mentions), forwarded=forwarded,
            timestamp=float(int(time.time())) if timestamp is None else timestamp, **details,
        )
        if deliver:
            await self._deliver(s, event)
        return event

    async def _change(self, session_id: str, from_phone: str, change: ChangeKind, message_id: str, *,
                      text: str | None = None, option_hashes: tuple[str, ...] | None = None,
                      via_lid: bool = False, group: str | None = None) -> MessageChanged:
        s, sender, _, chat = self._contact(session_id, from_phone, via_lid, group)
        event = MessageChanged(session_id=session_id, change=change, message_id=message_id,
                               change_id=wire.incoming_message_id(), chat=chat, sender=sender, text=text,
                               timestamp=float(int(time.time())), option_hashes=option_hashes)
        await self._deliver(s, event)
        return event

    async def contact_reacts(self, session_id: str, from_phone: str, message_id: str, emoji: str = "👍",
                             **where: Any) -> MessageChanged:
        """A contact reacts to a message; an empty emoji takes the reaction back."""
        return await self._change(session_id, from_phone, "reaction", message_id, text=emoji or None, **where)

    async def contact_edits(self, session_id: str, from_phone: str, message_id: str, text: str,
                            **where: Any) -> MessageChanged:
        """A contact edits a message they sent."""
        return await self._change(session_id, from_phone, "edited", message_id, text=text, **where)

    async def contact_revokes(self, session_id: str, from_phone: str, message_id: str,
                              **where: Any) -> MessageChanged:
        """A contact deletes a message they sent, for everyone."""
        return await self._change(session_id, from_phone, "revoked", message_id, **where)

    async def contact_votes(self, session_id: str, from_phone: str, message_id: str, options: Sequence[str],
                            **where: Any) -> MessageChanged:
        """A contact votes on a poll (no options: takes the vote back); WhatsApp names each choice by its hash."""
        hashes = tuple(poll_option_hash(option) for option in options)
        return await self._change(session_id, from_phone, "poll_vote", message_id, option_hashes=hashes, **where)

    async def contact_presence(self, session_id: str, from_phone: str, state: PresenceState, *,
                               group: str | None = None, last_seen: float | None = None) -> PresenceUpdated:
        """A contact comes online, goes offline, or types / records / pauses in their chat (or a group)."""
        s, sender, _, chat = self._contact(session_id, from_phone, False, group)
        if state in ("available", "unavailable") and group is not None:
            raise PhoneActionError("online and offline are a contact's own, not a group's")
        event = PresenceUpdated(session_id=session_id, chat=chat, sender=sender, state=state,
                                last_seen=last_seen if state == "unavailable" else None)
        await self._deliver(s, event)
        return event

    async def phone_sends_history(self, session_id: str, messages: Sequence[dict[str, Any]], *,
                                  sync_type: str = "initial_bootstrap", progress: int | None = 100,
                                  ) -> HistorySynced:
        """The phone sends old messages (each given as `contact_sends`' keyword arguments, `days_ago` for its age,
        `from_me` for one the phone's owner wrote)."""
        s = self._session(session_id)
        old: list[MessageReceived] = []
        for spec in messages:
            spec = dict(spec)
            days_ago, from_me = float(spec.pop("days_ago", 1)), bool(spec.pop("from_me", False))
            from_phone, kind = spec.pop("from_phone"), spec.pop("kind", "text")
            event = await self.contact_sends(session_id, from_phone, kind, deliver=False,
                                             timestamp=float(int(time.time() - days_ago * 86400)), **spec)
            if from_me and s.account is not None:
                event = _from_me(event, s.account.jid)
            old.append(event)
        synced = HistorySynced(session_id=session_id, messages=tuple(old), sync_type=sync_type, progress=progress)
        await self._deliver(s, synced)
        return synced


def _from_me(event: MessageReceived, own_jid: str) -> MessageReceived:
    import dataclasses

    return dataclasses.replace(event, sender=own_jid.split(":", 1)[0].split("@", 1)[0] + "@" + wire.USER_SERVER,
                               sender_lid=None, from_me=True, push_name=None)


def _card(contact: dict[str, Any]) -> SharedContact:
    name = contact.get("name")
    phones = tuple(str(p) for p in contact.get("phones", ()))
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{name or ''}"]
    lines += [f"TEL;type=CELL;waid={p}:+{p}" for p in phones]
    lines.append("END:VCARD")
    return SharedContact(name=name, vcard="\n".join(lines), phones=phones)
