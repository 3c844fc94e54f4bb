"""An in-process fake WhatsApp behind the transport interface, for tests and demos (`WA_TRANSPORT=simulator`).

From the bridge's side it behaves like neonize: an unlinked session shows rotating QR codes (60 s, then
20 s each, six in all) and then gives up; a linked session's account is kept in
`<state_dir>/<session_id>.simulator.json` so a restarted bridge reconnects without a QR; sends answer with
whatsmeow-style ids and are followed by delivered and read receipts. Events that happen while a linked
session is offline (receipts, incoming messages) are held and delivered after it reconnects, as WhatsApp's
server does. The phone side (scan, type a pairing code, send a message in, unlink, drop the network) is
driven through the plain async methods inherited from `simulator_phone.PhoneSide`; `sent`, `typing` and
`read_marks` record what the bridge asked for. With a state_dir, every accepted send is also appended to
`<state_dir>/_simulator_sent.jsonl` before the send returns, so a test can count what a killed bridge sent.

A send goes out under the `message_id` it is given. A second send under an id the session already sent
answers with the first send's result and goes nowhere, as WhatsApp's recipients discard a message whose id
they already have; the ids sent by earlier processes are read from the sent log before a session connects.

Every delay is divided by `speed`, so a test can run WhatsApp's real timings a hundred times faster.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import structlog

from wagate import session_ids
from wagate.errors import InvalidRecipient, RecipientNotOnWhatsApp, SessionNotConnected, TransportError

from . import simulator_wire as wire
from .base import (
    Account,
    Connected,
    Contact,
    EventSink,
    LoggedOut,
    MediaInfo,
    MediaKind,
    Paired,
    QRCodeIssued,
    QRCodesExhausted,
    ReceiptKind,
    ReceiptReceived,
    SendResult,
    TransportEvent,
    WhatsAppTransport,
    new_message_id,
)
from .simulator_groups import SimulatorGroups
from .simulator_phone import PhoneSide, SimSession
from .simulator_wire import PhoneActionError, ReadMarked, SentMessage, TypingShown

__all__ = ["PhoneActionError", "ReadMarked", "SentMessage", "SimulatorTransport", "TypingShown"]

log = structlog.get_logger(__name__)

_MEDIA_KINDS = ("image", "document", "audio", "video")


class SimulatorTransport(SimulatorGroups, PhoneSide, WhatsAppTransport):
    """Many simulated sessions, one sink; see the module docstring for the phone-side control methods."""

    def __init__(
        self,
        sink: EventSink,
        *,
        state_dir: Path | None = None,
        qr_first_ttl: float = 60.0,
        qr_next_ttl: float = 20.0,
        qr_codes: int = 6,
        receipt_delays: tuple[float | None, float | None] = (0.5, 1.5),
        connect_delay: float = 0.05,
        reconnect_delay: float = 0.2,
        send_latency: float = 0.0,
        speed: float = 1.0,
    ) -> None:
        super().__init__(sink)
        if speed <= 0 or qr_codes < 1:
            raise ValueError("speed must be positive and qr_codes at least 1")
        self.state_dir = state_dir
        self.qr_first_ttl, self.qr_next_ttl, self.qr_codes = qr_first_ttl, qr_next_ttl, qr_codes
        self.receipt_delays = receipt_delays  # (delivered, read) seconds after the send; None: never
        self.connect_delay, self.reconnect_delay = connect_delay, reconnect_delay
        self.send_latency = send_latency
        self.speed = speed
        self.sent_log = wire.SentLog(wire.sent_log_file(state_dir)) if state_dir is not None else None
        self._accepted: dict[tuple[str, str], SendResult] = {}  # (session id, message id) → the send's answer
        self.sent: list[SentMessage] = []
        self.typing: list[TypingShown] = []
        self.read_marks: list[ReadMarked] = []
        self._not_on_whatsapp: set[str] = set()
        self._sessions: dict[str, SimSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)
        self._closed = False

    # --- the interface -----------------------------------------------------------------------------

    async def connect(self, session_id: str) -> None:
        if self._closed:
            raise TransportError("the transport is closed")
        s = self._session(session_id)
        if s.state != "idle":
            return
        if s.account is None:
            s.state = "pairing"
            s.qr_shown.clear()
            self._spawn(s.tasks, self._show_qr_codes(s))
        else:
            self._start_connecting(s, self.connect_delay)

    async def pair_phone(self, session_id: str, phone: str) -> str:
        digits = wire.phone_digits(phone)
        if digits is None:
            raise InvalidRecipient(f"not a phone number: {phone!r}")
        s = self._session(session_id)
        if s.account is not None:
            raise TransportError("The session is already linked")
        if s.state == "idle":
            await self.connect(session_id)
        # whatsmeow asks for a code over the login websocket; the first QR code is the sign that it is open
        await asyncio.wait_for(s.qr_shown.wait(), timeout=5.0)
        if s.state != "pairing":
            raise SessionNotConnected("No connection to WhatsApp to pair over")
        code = wire.pairing_code()
        s.pair_code = (code.replace("-", ""), digits)
        return code

    async def stop(self, session_id: str) -> None:
        # Like whatsmeow's Disconnect(): closing on purpose emits no Disconnected event.
        s = self._session(session_id)
        await self._cancel(s.tasks)
        s.state, s.qr, s.pair_code = "idle", None, None

    async def logout(self, session_id: str) -> None:
        s = self._session(session_id)
        if s.account is not None and s.state != "connected":
            raise SessionNotConnected("Connect the session before logging it out")  # WhatsApp has to be told
        await self._unlink(s)
        await self._emit(LoggedOut(session_id=session_id, reason="logged out"))

    async def is_connected(self, session_id: str) -> bool:
        return self._session(session_id).state == "connected"

    async def account(self, session_id: str) -> Account | None:
        return self._session(session_id).account

    async def send_text(
        self, session_id: str, to: str, text: str, *, reply_to: str | None = None, message_id: str | None = None
    ) -> SendResult:
        return await self._send(session_id, to, "text", message_id, text=text, reply_to=reply_to)

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
        media = MediaInfo(kind=kind, mimetype=mimetype, filename=filename, size=len(data), caption=caption)
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

    async def mark_read(self, session_id: str, chat: str, sender: str, message_ids: Sequence[str]) -> None:
        self._connected(session_id)
        self.read_marks.append(ReadMarked(next(self._seq), session_id, chat, sender, tuple(message_ids)))

    async def set_typing(self, session_id: str, chat: str, typing: bool) -> None:
        self._connected(session_id)
        self.typing.append(TypingShown(next(self._seq), session_id, wire.recipient_jid(chat), typing))

    async def on_whatsapp(self, session_id: str, phones: Sequence[str]) -> dict[str, str | None]:
        self._connected(session_id)
        found: dict[str, str | None] = {}
        for number in phones:
            digits = wire.phone_digits(number)
            on = digits is not None and self._on_whatsapp(digits)
            found[number] = f"{digits}@{wire.USER_SERVER}" if on else None
        return found

    async def contacts(self, session_id: str) -> list[Contact]:
        s = self._session(session_id)
        if s.account is None:
            raise SessionNotConnected("the session is not logged in")
        book = {c.jid: c for c in wire.address_book(session_id)}
        for contact in s.senders.values():
            book.setdefault(contact.jid, contact)
        return list(book.values())

    async def close(self) -> None:
        self._closed = True
        for s in self._sessions.values():
            s.state, s.qr, s.pair_code = "idle", None, None
        await self._cancel(self._tasks)

    # --- inside ----------------------------------------------------------------------------------------

    def _load(self, session_id: str) -> Account | None:
        if self.state_dir is None:
            return None
        try:
            return wire.load_link(self.state_dir, session_id)
        except (ValueError, KeyError, TypeError):
            log.warning("simulator.link_unreadable", session_id=session_id)
            return None

    def _session(self, session_id: str) -> SimSession:
        s = self._sessions.get(session_id)
        if s is None:
            session_ids.check(session_id)
            s = self._sessions[session_id] = SimSession(session_id, account=self._load(session_id))
        return s

    def _connected(self, session_id: str) -> SimSession:
        s = self._session(session_id)
        if s.state != "connected":
            raise SessionNotConnected()
        return s

    def _on_whatsapp(self, digits: str) -> bool:
        return wire.reachable(digits) and digits not in self._not_on_whatsapp

    def _delay(self, seconds: float) -> float:
        return seconds / self.speed

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
    ) -> SendResult:
        s = self._connected(session_id)
        if s.send_failure is not None and s.send_failures_left > 0:
            s.send_failures_left -= 1
            raise s.send_failure
        jid = wire.recipient_jid(to)
        user, _, server = jid.partition("@")
        if server == wire.USER_SERVER and not self._on_whatsapp(user):
            raise RecipientNotOnWhatsApp(f"{to} is not on WhatsApp")
        if self.send_latency:
            await asyncio.sleep(self._delay(self.send_latency))
            self._connected(session_id)  # the connection may have dropped while WhatsApp was answering
        key = (session_id, message_id or new_message_id())
        if key in self._accepted:
            return self._accepted[key]  # the recipient has a message with this id already and discards this one
        result = self._accepted[key] = SendResult(message_id=key[1], timestamp=float(int(time.time())))
        sent = SentMessage(next(self._seq), session_id, jid, kind, text, result.message_id, result.timestamp,
                           reply_to=reply_to, media=media, location=location)
        self.sent.append(sent)
        if self.sent_log is not None:
            self.sent_log.append(sent)
        if self.receipt_delays[0] is not None:
            self._spawn(s.receipt_tasks, self._receipts(s, jid, result.message_id, self.receipt_delays))
        return result

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

    async def _show_qr_codes(self, s: SimSession) -> None:
        s.keys = wire.device_keys()  # a fresh unlinked device per attempt; only the ref rotates
        for n in range(self.qr_codes):
            ttl = self._delay(self.qr_first_ttl if n == 0 else self.qr_next_ttl)
            s.qr = wire.qr_code(s.keys)
            s.qr_shown.set()
            await self._emit(QRCodeIssued(session_id=s.id, code=s.qr, expires_in=ttl))
            if self._stale(s):
                return  # the sink scanned, stopped or logged out while handling the code
            await asyncio.sleep(ttl)
        s.state, s.qr, s.pair_code = "idle", None, None
        await self._emit(QRCodesExhausted(session_id=s.id))

    async def _link(self, s: SimSession, phone: str, push_name: str | None, platform: str) -> Account:
        digits = wire.phone_digits(phone)
        if digits is None:
            raise PhoneActionError(f"not a phone number: {phone!r}")
        await self._cancel(s.tasks)
        device = 2 + int.from_bytes(os.urandom(1)) % 60
        account = Account(
            jid=f"{digits}:{device}@{wire.USER_SERVER}",
            phone=digits,
            lid=wire.lid_for(digits),
            push_name=push_name,
            platform=platform,
        )
        s.account, s.unlinked_offline, s.qr, s.pair_code, s.state = account, False, None, None, "connecting"
        if self.state_dir is not None:
            wire.save_link(self.state_dir, s.id, account)
        # pair-success names only the device and platform; the LID and push name come with Connected
        paired = Account(jid=account.jid, phone=digits, platform=platform)
        await self._emit(Paired(session_id=s.id, account=paired))
        # whatsmeow reconnects after pair-success; Connected follows unless the sink stopped the session
        if s.state == "connecting" and not self._closed:
            self._start_connecting(s, self.connect_delay)
        return account

    def _start_connecting(self, s: SimSession, delay: float) -> None:
        s.state = "connecting"
        self._spawn(s.tasks, self._connect_later(s, delay))

    async def _connect_later(self, s: SimSession, delay: float) -> None:
        await asyncio.sleep(self._delay(delay))
        if s.unlinked_offline:
            await self._unlink(s)
            await self._emit(LoggedOut(session_id=s.id, reason="unlinked from the phone"))
            return
        if s.connect_failures:
            s.state = "idle"
            await self._emit(s.connect_failures.pop(0))
            return
        if s.account is None:
            return
        if self.sent_log is not None:  # what other processes (a killed bridge) sent, for the dedupe
            self._accepted.update(self.sent_log.new_results())
        s.state = "connected"
        await self._emit(Connected(session_id=s.id, account=s.account))
        while s.backlog and s.state == "connected":
            await self._emit(s.backlog.pop(0))

    async def _deliver(self, s: SimSession, event: TransportEvent) -> None:
        """Hand an event to the sink now, or hold it for the reconnect when the linked session is offline."""
        if s.state == "connected" and not s.backlog:
            await self._emit(event)
        elif s.account is not None:
            s.backlog.append(event)

    async def _unlink(self, s: SimSession) -> None:
        await self._cancel(s.tasks)
        await self._cancel(s.receipt_tasks)
        s.state, s.account, s.qr, s.pair_code, s.unlinked_offline = "idle", None, None, None, False
        s.backlog.clear()
        s.senders.clear()
        if self.state_dir is not None:
            wire.link_file(self.state_dir, s.id).unlink(missing_ok=True)

    async def _emit(self, event: TransportEvent) -> None:
        try:
            await self.sink(event)
        except Exception:
            # The sink is the bridge's code: its failure must not stop the QR rotation or the receipts.
            log.exception("simulator.sink_failed", session_id=event.session_id, event_type=type(event).__name__)

    def _spawn(self, owner: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        for tasks in (self._tasks, owner):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def _stale(self, s: SimSession) -> bool:
        """Whether the running timer was cancelled from inside its own sink call (it cannot cancel itself)."""
        return asyncio.current_task() not in s.tasks

    async def _cancel(self, tasks: set[asyncio.Task[None]]) -> None:
        # A sink may call stop/logout from inside a timer's own event: that timer is left to notice `_stale`.
        current = asyncio.current_task()
        doomed = [t for t in tasks if t is not current]
        tasks.clear()
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
