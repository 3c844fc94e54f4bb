"""Simulated sends of every kind: accepted under their message id (once), logged, and followed by delivered and read
receipts."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from wagate.errors import RecipientNotOnWhatsApp, SendLimited, TransportError
from wagate.transport.base import MediaInfo, MediaKind, ReceiptKind, ReceiptReceived, SendResult, new_message_id
from wagate.transport.outgoing import Decorations, Media, OutgoingMessage, Text, kind_of
from wagate.transport.simulator import sending_kinds, wire
from wagate.transport.simulator.session import SimSession, SimulatorBase
from wagate.transport.simulator.wire import SentMessage

_MEDIA_KINDS = ("image", "document", "audio", "video")


class SimulatorSending(SimulatorBase):
    """The sends of the transport interface."""

    async def send_text(
        self, session_id: str, to: str, text: str, *, reply_to: str | None = None, message_id: str | None = None
    ) -> SendResult:
        return await self._send(session_id, to, "text", message_id, text=text, reply_to=reply_to,
                                mentions=self._mentions(to, text))

    def _mentions(self, to: str, text: str) -> tuple[str, ...]:
        """Who a text mentions: only a group has members to mention (the groups part knows them)."""
        return ()

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
    ) -> SendResult:
        if kind not in _MEDIA_KINDS or not data:
            raise TransportError(f"cannot send {kind} media of {len(data)} bytes")
        # The bytes go to the media server first, as WhatsApp's do: the recipient's phone downloads them by handle.
        handle = self.upload_media(data)  # type: ignore[attr-defined]
        media = MediaInfo(kind=kind, mimetype=mimetype, filename=filename, size=len(data), caption=caption,
                          download=handle)
        return await self._send(session_id, to, kind, message_id, text=caption, media=media)

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
    ) -> SendResult:
        return await self._send(session_id, to, "location", message_id, text=name, location=(latitude, longitude))

    async def send(
        self, session_id: str, to: str, message: OutgoingMessage, *, message_id: str | None = None
    ) -> SendResult:
        """Any kind, recorded on the recipient's phone with its fields (`sending_kinds`)."""
        text, content, media, location = sending_kinds.recorded(message)
        if media is not None and isinstance(message, Media):
            # The bytes go to the media server first, as WhatsApp's do: the recipient's phone downloads them by handle.
            media = dataclasses.replace(media, download=self.upload_media(message.data))  # type: ignore[attr-defined]
        extras = getattr(message, "extras", None)
        reply_to = None
        mentions: tuple[str, ...] = ()
        if isinstance(message, Text) and isinstance(extras, Decorations) and to.endswith("@g.us"):
            # In a group only members can be mentioned (`_mentions`), as WhatsApp shows them.
            extras = dataclasses.replace(extras, mentions=self._mentions(to, message.text))
            mentions = extras.mentions
        if isinstance(extras, Decorations):
            reply_to = extras.quote.message_id if extras.quote else None
            content |= sending_kinds.decorations(extras)
        return await self._send(session_id, to, kind_of(message), message_id, text=text, reply_to=reply_to,
                                media=media, location=location, content=content, mentions=mentions)

    async def _send(
        self,
        session_id: str,
        to: str,
        kind: str,
        message_id: str | None,
        *,
        text: str | None = None,
        reply_to: str | None = None,
        media: MediaInfo | None = None,
        location: tuple[float, float] | None = None,
        content: dict[str, Any] | None = None,
        mentions: tuple[str, ...] = (),
    ) -> SendResult:
        s = self._connected(session_id)
        if s.send_failure is not None and s.send_failures_left > 0:
            s.send_failures_left -= 1
            raise s.send_failure
        jid = wire.recipient_jid(to)
        user, _, server = jid.partition("@")
        if server == wire.USER_SERVER and not self._on_whatsapp(user):
            raise RecipientNotOnWhatsApp(f"{to} is not on WhatsApp")
        self._check_limit(s, jid)
        if self.send_latency:
            await asyncio.sleep(self._delay(self.send_latency))
            self._connected(session_id)  # the connection may have dropped while WhatsApp was answering
        key = (session_id, message_id or new_message_id())
        if key in self._accepted:
            return self._accepted[key]  # the recipient has a message with this id already and discards this one
        result = self._accepted[key] = SendResult(message_id=key[1], timestamp=float(int(time.time())))
        sent = SentMessage(next(self._seq), session_id, jid, kind, text, result.message_id, result.timestamp,
                           reply_to=reply_to, media=media, location=location, content=content, mentions=mentions)
        self.sent.append(sent)
        s.chats.add(jid)
        if self.sent_log is not None:
            self.sent_log.append(sent)
        if self.receipt_delays[0] is not None:
            self._spawn(s.receipt_tasks, self._receipts(s, jid, result.message_id, self.receipt_delays))
        return result

    @staticmethod
    def _check_limit(s: SimSession, jid: str) -> None:
        """WhatsApp's send limit, as whatsmeow reports it: refused before the message is taken."""
        if s.send_limit is None:
            return
        code, until = s.send_limit
        if time.monotonic() >= until:
            s.send_limit = None
        elif code == 429 or jid not in s.chats:
            raise SendLimited(f"server returned error {code}", code=code)

    async def _receipts(
        self, s: SimSession, chat: str, message_id: str, delays: tuple[float | None, float | None]
    ) -> None:
        waited = 0.0
        kinds: tuple[ReceiptKind, ReceiptKind] = ("delivered", "read")
        for kind, after in zip(kinds, delays, strict=True):
            if after is None:
                return
            await asyncio.sleep(self._delay(max(0.0, after - waited)))
            waited = max(waited, after)
            receipt = ReceiptReceived(
                session_id=s.id, kind=kind, chat=chat, message_ids=(message_id,), timestamp=time.time()
            )
            await self._deliver(s, receipt)
