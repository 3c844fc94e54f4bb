"""Sending: text, media and locations, quoting an earlier message, to the JID WhatsApp answers for a number."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wagate.errors import TransportError
from wagate.transport.base import MediaKind, SendResult
from wagate.transport.neonize import mapping
from wagate.transport.neonize.errors import send_error, transport_error
from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.neonize.session import NeonizeBase, SessionState

if TYPE_CHECKING:
    from neonize.proto.Neonize_pb2 import JID
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
            kind, sub = mapping.message_type(quoted)
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
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage, Message

        s = await self._ready(session_id)
        if reply_to is None:
            message = Message(conversation=text)  # a str would be scanned for @mentions; this is sent as is
        else:
            message = Message(extendedTextMessage=ExtendedTextMessage(text=text, contextInfo=self._quote(s, reply_to)))
        return await self._send(s, to, message)

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
        from neonize.exc import NeonizeError
        from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
        from neonize.utils.enum import MediaType

        s = await self._ready(session_id)
        await self._recipient(s, to)  # fail on a bad recipient (or one not on WhatsApp) before uploading
        media_types = {
            "image": MediaType.MediaImage,
            "video": MediaType.MediaVideo,
            "audio": MediaType.MediaAudio,
            "document": MediaType.MediaDocument,
        }
        if kind not in media_types:
            raise TransportError(f"Unknown media kind {kind!r}")
        try:
            # Built here rather than with send_image & co: those parse @mentions out of captions, need ffmpeg
            # for audio and video, and sniff the MIME type; the caller already knows it.
            upload = await s.client.upload(data, media_types[kind])
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        common: dict[str, Any] = {
            "URL": upload.url,
            "directPath": upload.DirectPath,
            "mediaKey": upload.MediaKey,
            "fileEncSHA256": upload.FileEncSHA256,
            "fileSHA256": upload.FileSHA256,
            "fileLength": upload.FileLength,
            "mimetype": mimetype,
        }
        if kind == "image":
            message = e2e.Message(imageMessage=e2e.ImageMessage(caption=caption, **common))
        elif kind == "video":
            message = e2e.Message(videoMessage=e2e.VideoMessage(caption=caption, **common))
        elif kind == "audio":
            message = e2e.Message(audioMessage=e2e.AudioMessage(**common))  # WhatsApp audio has no caption
        else:
            message = e2e.Message(
                documentMessage=e2e.DocumentMessage(
                    fileName=filename or "file", title=filename, caption=caption, **common
                )
            )
        return await self._send(s, to, message)

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
