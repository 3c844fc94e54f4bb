"""Chat actions that are not messages: read receipts, typing, who is on WhatsApp, the contact list."""

from __future__ import annotations

from collections.abc import Sequence

from wagate.errors import SessionNotConnected
from wagate.transport.base import Contact
from wagate.transport.neonize import mapping
from wagate.transport.neonize.errors import transport_error
from wagate.transport.neonize.recipients import phone_digits, recipient_jid
from wagate.transport.neonize.session import NeonizeBase


class NeonizeChats(NeonizeBase):
    """Marking messages read, showing typing, checking numbers and reading the contact store."""

    async def mark_read(self, session_id: str, chat: str, sender: str, message_ids: Sequence[str]) -> None:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import ReceiptType

        if not message_ids:
            return
        s = await self._ready(session_id)
        known = s.recent.get(message_ids[0])
        addressed = known[0] if known is not None and known[0] else sender  # a LID where WhatsApp used one
        chat_jid, sender_jid = recipient_jid(chat), recipient_jid(addressed)
        try:
            await s.client.mark_read(*message_ids, chat=chat_jid, sender=sender_jid, receipt=ReceiptType.READ)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def set_typing(self, session_id: str, chat: str, typing: bool) -> None:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia

        s = await self._ready(session_id)
        state = ChatPresence.CHAT_PRESENCE_COMPOSING if typing else ChatPresence.CHAT_PRESENCE_PAUSED
        try:
            await s.client.send_chat_presence(recipient_jid(chat), state, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def on_whatsapp(self, session_id: str, phones: Sequence[str]) -> dict[str, str | None]:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        digits = {phone: phone_digits(phone) for phone in phones}
        queries = sorted({d for d in digits.values() if d})
        found: dict[str, str | None] = {}
        if queries:
            try:
                responses = await s.client.is_on_whatsapp(*(f"+{d}" for d in queries))
            except NeonizeError as exc:
                raise transport_error(exc) from exc
            for r in responses:
                key = phone_digits(r.Query)
                if key:
                    found[key] = mapping.jid_to_str(r.JID) if r.IsIn else None
        return {phone: found.get(d) if d else None for phone, d in digits.items()}

    async def contacts(self, session_id: str) -> list[Contact]:
        from neonize.exc import NeonizeError

        s = self._sessions.get(session_id)
        if s is None or not await s.client.is_logged_in:  # pitfall 5: contact.* panics unless logged in
            raise SessionNotConnected()
        try:
            entries = await s.client.contact.get_all_contacts()
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        return [mapping.contact_from_store(entry) for entry in entries]
