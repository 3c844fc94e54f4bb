"""Sending: text, media and locations, quoting an earlier message, to the JID WhatsApp answers for a number; and
`send`, every message kind (`outgoing`) built by `sending_kinds`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from wagate.errors import MessageUnsendable, TransportError
from wagate.transport.base import MediaKind, SendResult
from wagate.transport.neonize import incoming, mapping
from wagate.transport.neonize import sending_kinds as build
from wagate.transport.neonize.errors import send_error, transport_error
from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.neonize.session import NeonizeBase, SessionState
from wagate.transport.outgoing import (
    Contacts,
    Decorations,
    Edit,
    Location,
    Media,
    OutgoingMessage,
    Poll,
    Reaction,
    Revoke,
    Text,
)

if TYPE_CHECKING:
    from neonize.proto.Neonize_pb2 import JID, UploadResponse
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message


class NeonizeSending(NeonizeBase):
    """The sends of the transport interface, and the reply context they quote."""

    def _quote(self, s: SessionState, message_id: str) -> ContextInfo:
        """The reply context for `message_id`: WhatsApp shows the quote from the copy sent along with it."""
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message

        context = ContextInfo(stanzaID=message_id)
        known = s.recent.get(message_id)
        if known is not None:
            sender, original = known
            quoted = Message()
            quoted.CopyFrom(original)
            kind, sub = incoming.kind_of(quoted)
            if sub is not None and "contextInfo" in sub.DESCRIPTOR.fields_by_name:
                sub.ClearField("contextInfo")  # a quote carries the message, not the quote it made itself
            context.quotedMessage.CopyFrom(quoted)
            if sender:
                context.participant = sender
        return context

    async def _send(self, s: SessionState, to: str, message: Message) -> SendResult:
        # The sends ignore their `message_id`: neonize 0.5.2's send_message calls the Go SendMessage(uuid, to, len,
        # msg, len), which takes no SendRequestExtra (whatsmeow's way to choose the id), so whatsmeow makes a new
        # id each time and the sender stores the one answered here (README "Fault tolerance").
        from neonize.exc import NeonizeError

        jid = await self._recipient(s, to)
        try:
            response = await s.client.send_message(jid, message)
        except NeonizeError as exc:
            raise send_error(exc) from exc
        own = f"{s.account.phone}@s.whatsapp.net" if s.account else None
        self._remember(s, response.ID, own, message)
        return SendResult(message_id=response.ID, timestamp=mapping.epoch_seconds(response.Timestamp))

    async def _recipient(self, s: SessionState, to: str) -> JID:
        """The JID to send to: a phone number (digits, or its s.whatsapp.net JID) as WhatsApp answers for it."""
        from neonize.exc import NeonizeError

        jid = recipient_jid(to)
        if jid.Server != "s.whatsapp.net":
            return jid  # groups, LIDs, newsletters: WhatsApp's own ids already
        try:
            found = await s.recipients.resolve(s.client, jid.User)
        except NeonizeError as exc:
            raise transport_error(exc) from exc  # nothing was sent: safe to retry
        return recipient_jid(found)

    async def send_text(
        self, session_id: str, to: str, text: str, *, reply_to: str | None = None, message_id: str | None = None
    ) -> SendResult:
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, ExtendedTextMessage, Message

        s = await self._ready(session_id)
        mentions = await self._mentions(s, to, text)
        if reply_to is None and not mentions:
            message = Message(conversation=text)  # a str would be scanned for @mentions; this is sent as is
        else:
            context = self._quote(s, reply_to) if reply_to is not None else ContextInfo()
            context.mentionedJID.extend(mentions)
            message = Message(extendedTextMessage=ExtendedTextMessage(text=text, contextInfo=context))
        return await self._send(s, to, message)

    async def _mentions(self, s: SessionState, to: str, text: str) -> list[str]:
        """Who a text mentions: only a group has members to mention (the groups part knows them)."""
        return []

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
        """A medium as it is, without thumbnail or sizes (the gateway measures media at acceptance and uses `send`)."""
        if kind not in ("image", "video", "audio", "document"):
            raise TransportError(f"Unknown media kind {kind!r}")
        return await self.send(session_id, to, Media(kind=kind, data=data, mimetype=mimetype, file_name=filename,
                                                      caption=caption), message_id=message_id)

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
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import LocationMessage, Message

        s = await self._ready(session_id)
        location = LocationMessage(degreesLatitude=latitude, degreesLongitude=longitude, name=name, address=address)
        return await self._send(s, to, Message(locationMessage=location))

    async def send(
        self, session_id: str, to: str, message: OutgoingMessage, *, message_id: str | None = None
    ) -> SendResult:
        """Any kind, built as WhatsApp's protobuf (`sending_kinds`); media uploaded first."""
        s = await self._ready(session_id)
        extras = getattr(message, "extras", None)
        if isinstance(message, Text) and isinstance(extras, Decorations) and to.endswith("@g.us"):
            # In a group only members can be mentioned, each by the JID the group knows them by (`_mentions`).
            extras = dataclasses.replace(extras, mentions=tuple(await self._mentions(s, to, message.text)))
        context = None
        if isinstance(extras, Decorations):
            quote = extras.quote
            known = quote is not None and quote.message_id in s.recent
            context = build.context_info(extras, self._quote(s, quote.message_id) if known and quote else None)
        match message:
            case Text():
                built = build.build_text(message, context)
            case Media():
                await self._recipient(s, to)  # fail on a bad recipient (or one not on WhatsApp) before uploading
                built = build.build_media(message, await self._upload(s, message), context)
            case Location():
                built = build.build_location(message, context)
            case Contacts():
                built = build.build_contacts(message, context)
            case Poll():
                built = build.build_poll(message, context)
            case Reaction():
                built = build.build_reaction(message)
            case Edit():
                built = build.build_edit(message)
            case Revoke():
                account = s.account or await self._fetch_account(s)
                if account is None:
                    raise MessageUnsendable("the session's own number is not known yet")
                built = build.build_revoke(message, f"{account.phone}@{build.USER_SERVER}")
            case _:
                raise MessageUnsendable(f"messages of kind {type(message).__name__} cannot be sent")
        return await self._send(s, to, built)

    async def _upload(self, s: SessionState, message: Media) -> UploadResponse:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import MediaType

        media_type = {"image": MediaType.MediaImage, "sticker": MediaType.MediaImage,  # whatsmeow's choice
                      "video": MediaType.MediaVideo, "audio": MediaType.MediaAudio,
                      "document": MediaType.MediaDocument}.get(message.kind)
        if media_type is None:
            raise TransportError(f"Unknown media kind {message.kind!r}")
        try:
            return await s.client.upload(message.data, media_type)
        except NeonizeError as exc:
            raise transport_error(exc) from exc
