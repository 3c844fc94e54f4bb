"""The phone side of the simulated WhatsApp: scanning, pairing codes, incoming messages, dropped networks.

Tests and demos drive the simulator through these plain async methods, which `SimulatorTransport` inherits;
each one acts the way the real phone or WhatsApp's server would, and the bridge hears about it only through
the transport's events.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from wagate.errors import TransportError
from wagate.transport.base import (
    Account,
    ConnectFailed,
    Contact,
    ContactUpdated,
    Disconnected,
    LoggedOut,
    MediaInfo,
    MessageReceived,
    ReceiptReceived,
)
from wagate.transport.simulator import wire
from wagate.transport.simulator.session import SimulatorBase
from wagate.transport.simulator.wire import PhoneActionError


class PhoneSide(SimulatorBase):
    """The phone-side controls; the transport supplies the session machinery they act through."""

    async def scan(
        self,
        session_id: str,
        phone: str = "6281234567890",
        *,
        push_name: str | None = None,
        platform: str = "android",
        code: str | None = None,
    ) -> Account:
        """The phone scans the QR code on screen (or exactly `code`, which must still be the live one)."""
        s = self._session(session_id)
        if s.state != "pairing" or s.qr is None:
            raise PhoneActionError("no QR code is on screen")
        if code is not None and code != s.qr:
            raise PhoneActionError("this QR code has expired")
        return await self._link(s, phone, push_name, platform)

    async def enter_pair_code(
        self, session_id: str, code: str, *, push_name: str | None = None, platform: str = "android"
    ) -> Account:
        """The owner of the phone given to `pair_phone` types the code; the dash and case do not matter."""
        s = self._session(session_id)
        if s.state != "pairing" or s.pair_code is None:
            raise PhoneActionError("no pairing code was requested")
        if code.replace("-", "").strip().upper() != s.pair_code[0]:
            raise PhoneActionError("wrong pairing code")
        return await self._link(s, s.pair_code[1], push_name, platform)

    async def inject_message(
        self,
        session_id: str,
        from_phone: str,
        text: str | None = "Halo",
        *,
        via_lid: bool = False,
        push_name: str | None = None,
        is_group: bool = False,
        group: str | None = None,
        type: str | None = None,
        media: MediaInfo | None = None,
        quoted_message_id: str | None = None,
    ) -> MessageReceived:
        """Someone sends the session a message; held until the session is connected, like WhatsApp does."""
        s = self._session(session_id)
        digits = wire.phone_digits(from_phone)
        if digits is None:
            raise PhoneActionError(f"not a phone number: {from_phone!r}")
        if s.account is None:
            raise PhoneActionError("the session is not linked")
        sender = f"{digits}@{wire.USER_SERVER}"
        lid = wire.lid_for(digits) if via_lid else None
        if group or is_group:
            chat = wire.recipient_jid(group) if group else wire.group_jid_for(session_id)
        else:
            chat = lid or sender  # whatsmeow names a direct chat addressed by LID by the LID
        event = MessageReceived(
            session_id=session_id,
            message_id=wire.incoming_message_id(),
            chat=chat,
            sender=sender,  # WhatsApp gives the phone-number JID beside the LID (SenderAlt): the bridge sees both
            sender_lid=lid,
            push_name=push_name,
            is_group=chat.endswith("@" + wire.GROUP_SERVER),
            type=type or (media.kind if media else "text"),
            text=text,
            media=media,
            quoted_message_id=quoted_message_id,
            timestamp=float(int(time.time())),
        )
        known = s.senders.get(sender)
        if push_name and (known is None or known.push_name != push_name):
            # a new push name comes as a contact update beside the message that carried it
            s.senders[sender] = Contact(jid=sender, phone=digits, push_name=push_name)
            await self._deliver(s, ContactUpdated(session_id=session_id, contact=s.senders[sender]))
        elif known is None:
            s.senders[sender] = Contact(jid=sender, phone=digits)
        s.chats.update((chat, sender))
        await self._deliver(s, event)
        return event

    async def drop_connection(
        self, session_id: str, *, reconnect: bool = True, reason: str = "connection lost"
    ) -> None:
        """The network drops; the transport reconnects by itself after `reconnect_delay` unless told not to."""
        s = self._session(session_id)
        if s.state != "connected":
            raise PhoneActionError("the session is not connected")
        await self._cancel(s.tasks)
        s.state = "idle"
        await self._emit(Disconnected(session_id=session_id, reason=reason, will_reconnect=reconnect))
        if reconnect and s.state == "idle" and not self._closed:
            self._start_connecting(s, self.reconnect_delay)

    def go_silent(self, session_id: str) -> None:
        """The connection goes half-dead: it still looks connected, but nothing comes through any more (incoming
        messages wait at WhatsApp) and a ping gets no answer, until the session connects again."""
        s = self._session(session_id)
        if s.state != "connected":
            raise PhoneActionError("the session is not connected")
        s.silent = True

    async def unlink_from_phone(self, session_id: str) -> None:
        """The phone removes the linked device: `LoggedOut` now, or on the next connect if it is offline."""
        s = self._session(session_id)
        if s.account is None:
            raise PhoneActionError("the session is not linked")
        if s.state == "connected":
            await self._unlink(s)
            await self._emit(LoggedOut(session_id=session_id, reason="unlinked from the phone"))
        else:
            s.unlinked_offline = True

    async def read_by_recipient(self, session_id: str, message_ids: Sequence[str]) -> None:
        """The recipients open these sent messages now (useful with receipts turned off)."""
        s = self._session(session_id)
        by_chat: dict[str, list[str]] = {}
        for sent in self.sent:
            if sent.session_id == session_id and sent.message_id in message_ids:
                by_chat.setdefault(sent.to, []).append(sent.message_id)
        for chat, ids in by_chat.items():
            await self._deliver(
                s,
                ReceiptReceived(
                    session_id=session_id, kind="read", chat=chat, message_ids=tuple(ids), timestamp=time.time()
                ),
            )

    def set_not_on_whatsapp(self, phone: str, not_on: bool = True) -> None:
        digits = wire.phone_digits(phone) or phone
        (self._not_on_whatsapp.add if not_on else self._not_on_whatsapp.discard)(digits)

    def set_send_failure(self, session_id: str, error: TransportError | None, times: int = 1) -> None:
        """The next `times` sends of the session raise `error` (None clears it)."""
        s = self._session(session_id)
        s.send_failure, s.send_failures_left = error, times if error is not None else 0

    def set_send_limit(self, session_id: str, seconds: float, code: int = 463) -> None:
        """For `seconds` WhatsApp refuses the session's sends: with 463 ("reachout timelock") those to new contacts
        (no message in the chat yet), with 429 ("rate-overlimit") all of them. 0 lifts it. Real seconds, whatever
        the simulator's speed: the bridge's pause is measured against it."""
        if code not in (463, 429):
            raise PhoneActionError("WhatsApp's send limits are 463 and 429")
        s = self._session(session_id)
        s.send_limit = (code, time.monotonic() + seconds) if seconds > 0 else None

    def set_connect_failure(self, session_id: str, reason: str, *, permanent: bool = False, times: int = 1) -> None:
        """The next `times` connection attempts of a linked session end in `ConnectFailed`."""
        failure = ConnectFailed(session_id=session_id, reason=reason, permanent=permanent)
        self._session(session_id).connect_failures.extend([failure] * times)

    def set_receipts(self, delivered_after: float | None, read_after: float | None) -> None:
        """Receipt delays for later sends, in seconds after the send; None means that receipt never comes."""
        self.receipt_delays = (delivered_after, read_after)
