"""What a session's client hears from its chats: messages (new ones and changes to earlier ones) and receipts."""

from __future__ import annotations

import dataclasses
from typing import Any

from wagate.transport.base import ContactUpdated, MessageChanged, MessageReceived
from wagate.transport.neonize import mapping
from wagate.transport.neonize.session import EventHandler, NeonizeBase, SessionState


class NeonizeEvents(NeonizeBase):
    """Incoming messages, changes to messages (edits, revokes, reactions, votes) and receipts."""

    def _event_handlers(self) -> dict[type, EventHandler]:
        from neonize.aioze import events as ev

        return {**super()._event_handlers(), ev.MessageEv: self._on_message, ev.ReceiptEv: self._on_receipt}

    async def _on_message(self, s: SessionState, ev: Any) -> None:
        received = mapping.message_event(s.id, ev)
        if isinstance(received, str):
            # The protocol's own traffic is consumed here; a kind the gateway does not know is logged, never
            # passed on as a customer's message.
            if received.startswith("unknown"):
                s.log.info("whatsapp message of an unhandled kind dropped", kind=received, wa_message_id=ev.Info.ID)
            return
        received = await self._with_phone_number(s, received)
        if isinstance(received, MessageChanged):
            await self._emit(received)
            return
        # Kept as addressed (a LID in LID-addressed groups): a read receipt or a quote must name the sender so.
        addressed = mapping.jid_to_str(ev.Info.MessageSource.Sender)
        self._remember(s, received.message_id, addressed, mapping.unwrap(ev.Message))
        # The message first: whatsmeow has acknowledged it to WhatsApp already, so storing it comes before
        # anything else (neonize does not use whatsmeow's synchronous acknowledgement).
        await self._emit(received)
        contact = mapping.contact_from_message(ev)
        if contact is not None and s.push_names.get(contact.jid) != contact.push_name:
            s.push_names[contact.jid] = contact.push_name or ""
            await self._emit(ContactUpdated(session_id=s.id, contact=contact))

    async def _with_phone_number(
        self, s: SessionState, event: MessageReceived | MessageChanged
    ) -> MessageReceived | MessageChanged:
        """The event with its sender's phone-number JID, from whatsmeow's LID map where WhatsApp sent only a LID."""
        if not event.sender.endswith("@lid"):
            return event
        from neonize.exc import NeonizeError

        try:
            phone = await s.recipients.phone_of_lid(s.client, event.sender)
        except NeonizeError as exc:
            s.log.warning("whatsapp lid not resolved", lid=event.sender, reason=str(exc))
            return event
        if phone is None:
            return event
        if isinstance(event, MessageReceived):
            return dataclasses.replace(event, sender=phone, sender_lid=event.sender)
        return dataclasses.replace(event, sender=phone)

    async def _on_receipt(self, s: SessionState, ev: Any) -> None:
        receipt = mapping.receipt_received(s.id, ev)
        if receipt is not None:
            await self._emit(receipt)
