"""A simulated session's connection: QR codes, pairing, linking, connecting, stopping and logging out."""

from __future__ import annotations

import asyncio
import os

from wagate.errors import InvalidRecipient, SessionNotConnected, TransportError
from wagate.transport.base import (
    Account,
    Connected,
    LoggedOut,
    Paired,
    QRCodeIssued,
    QRCodesExhausted,
)
from wagate.transport.simulator import wire
from wagate.transport.simulator.session import SimSession, SimulatorBase
from wagate.transport.simulator.wire import PhoneActionError


class SimulatorConnection(SimulatorBase):
    """Connecting (with QR codes or a pairing code when not linked), stopping, logging out, closing."""

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

    async def ping(self, session_id: str) -> bool:
        s = self._session(session_id)
        return s.state == "connected" and not s.silent

    async def account(self, session_id: str) -> Account | None:
        return self._session(session_id).account

    async def close(self) -> None:
        self._closed = True
        for s in self._sessions.values():
            s.state, s.qr, s.pair_code = "idle", None, None
        await self._cancel(self._tasks)

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
        s.state, s.silent = "connected", False
        await self._emit(Connected(session_id=s.id, account=s.account))
        while s.backlog and s.state == "connected":
            await self._emit(s.backlog.pop(0))

    async def _unlink(self, s: SimSession) -> None:
        await self._cancel(s.tasks)
        await self._cancel(s.receipt_tasks)
        s.state, s.account, s.qr, s.pair_code, s.unlinked_offline = "idle", None, None, None, False
        s.backlog.clear()
        s.senders.clear()
        if self.state_dir is not None:
            wire.link_file(self.state_dir, s.id).unlink(missing_ok=True)
