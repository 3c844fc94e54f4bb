"""What a session's client hears from its chats: messages (new ones and changes to earlier ones), receipts, presence
and the phone's history."""

from __future__ import annotations

import dataclasses
from typing import Any

from wagate.transport.base import ContactUpdated, MessageChanged, MessageReceived, PresenceUpdated
from wagate.transport.neonize import incoming, mapping
from wagate.transport.neonize.session import EventHandler, NeonizeBase, SessionState

Heard = MessageReceived | MessageChanged | PresenceUpdated
PRESENCE_FOLLOWED_MAX = 5000  # contacts whose presence one connection follows; past it, new writers are not followed


class NeonizeEvents(NeonizeBase):
    """Incoming messages of every kind, changes to messages (edits, revokes, reactions, decrypted votes), receipts,
    contacts' presence and the history the phone sends at link time."""

    def _event_handlers(self) -> dict[type, EventHandler]:
        from neonize.aioze import events as ev

        return {**super()._event_handlers(), ev.MessageEv: self._on_message, ev.ReceiptEv: self._on_receipt,
                ev.PresenceEv: self._on_presence, ev.ChatPresenceEv: self._on_chat_presence,
                ev.HistorySyncEv: self._on_history_sync}

    async def _on_message(self, s: SessionState, ev: Any) -> None:
        parsed = incoming.message_event(s.id, ev)
        if isinstance(parsed, str):
            return  # the protocol's own traffic (key shares, history notices): consumed by whatsmeow
        received = await self._with_phone_number(s, parsed)
        if isinstance(received, MessageChanged):
            if received.change == "poll_vote":
                received = await self._decrypted_vote(s, received, ev)
            await self._emit(received)
            return
        assert isinstance(received, MessageReceived)
        if received.type == "unknown":
            s.log.info("whatsapp message of an unknown kind", parts=received.unknown, wa_message_id=ev.Info.ID)
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
        if not received.is_group and not received.from_me:
            await self._follow_presence(s, ev.Info.MessageSource.Sender, received.sender)

    async def _decrypted_vote(self, s: SessionState, vote: MessageChanged, ev: Any) -> MessageChanged:
        """The vote with its choices: only the poll's creator can decrypt them (whatsmeow keeps the poll's secret)."""
        from google.protobuf.message import EncodeError
        from neonize.exc import NeonizeError

        try:
            decrypted = await s.client.decrypt_poll_vote(ev)
        except (NeonizeError, EncodeError) as exc:  # a poll this device did not see created: no secret for it
            s.log.info("whatsapp poll vote not decrypted", poll=vote.message_id, reason=str(exc)[:200])
            return vote
        return dataclasses.replace(vote, option_hashes=incoming.poll_vote_hashes(decrypted))

    async def _follow_presence(self, s: SessionState, addressed: Any, sender: str) -> None:
        """Subscribe to the presence of a contact who writes (once per connection): whatsmeow reports a contact's
        online / offline only after `subscribe_presence`."""
        from neonize.exc import NeonizeError

        if sender in s.presence_followed or len(s.presence_followed) >= PRESENCE_FOLLOWED_MAX:
            return
        s.presence_followed.add(sender)
        try:
            await s.client.subscribe_presence(addressed)
        except NeonizeError as exc:
            s.log.info("whatsapp presence not subscribed", contact=sender, reason=str(exc)[:200])

    async def _on_presence(self, s: SessionState, ev: Any) -> None:
        await self._emit(await self._with_phone_number(s, incoming.presence_event(s.id, ev)))

    async def _on_chat_presence(self, s: SessionState, ev: Any) -> None:
        await self._emit(await self._with_phone_number(s, incoming.chat_presence_event(s.id, ev)))

    async def _on_history_sync(self, s: SessionState, ev: Any) -> None:
        own = s.account.jid.split(":", 1)[0].split("@", 1)[0] + "@s.whatsapp.net" if s.account else None
        synced = incoming.history_synced(s.id, ev.Data, own_jid=own)
        s.log.info("whatsapp history received", sync_type=synced.sync_type, messages=len(synced.messages))
        await self._emit(synced)
        for contact in incoming.history_contacts(ev.Data):
            if s.push_names.get(contact.jid) != contact.push_name:
                s.push_names[contact.jid] = contact.push_name or ""
                await self._emit(ContactUpdated(session_id=s.id, contact=contact))

    async def _with_phone_number(self, s: SessionState, event: Heard) -> Heard:
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
        if isinstance(event, PresenceUpdated) and event.chat == event.sender:
            return dataclasses.replace(event, sender=phone, chat=phone)  # a contact's own presence
        return dataclasses.replace(event, sender=phone)

    async def _on_receipt(self, s: SessionState, ev: Any) -> None:
        receipt = mapping.receipt_received(s.id, ev)
        if receipt is not None:
            await self._emit(receipt)
