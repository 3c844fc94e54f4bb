"""Simulated chat actions that are not messages: read receipts, typing, who is on WhatsApp, the contact list."""

from __future__ import annotations

from collections.abc import Sequence

from wagate.errors import SessionNotConnected
from wagate.transport.base import Contact
from wagate.transport.simulator import wire
from wagate.transport.simulator.session import SimulatorBase
from wagate.transport.simulator.wire import ReadMarked, TypingShown


class SimulatorChats(SimulatorBase):
    """Marking messages read, showing typing, checking numbers and the contact list; recorded for tests to see."""

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
