"""Each message kind as WhatsApp's protobuf, for `NeonizeSending.send`.

The builders follow whatsmeow (`send.go`: BuildReaction, BuildPollCreation, BuildEdit, BuildRevoke,
BuildMessageKey) and what wuzapi and go-whatsapp-web-multidevice put in media messages (a JPEG thumbnail,
dimensions, duration, the PTT flag, `mediaKeyTimestamp`). They are plain functions of the message description
and the upload's answer, so they are tested with neonize's real protobuf types and no network. neonize is
imported lazily, as everywhere in this package (importing it configures logging and starts a thread).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from wagate.transport.neonize.recipients import recipient_jid
from wagate.transport.outgoing import Contacts, Decorations, Edit, Location, Media, Poll, Reaction, Revoke, Target, Text

if TYPE_CHECKING:
    from neonize.proto.Neonize_pb2 import UploadResponse
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message

USER_SERVER = "s.whatsapp.net"
POLL_SECRET_BYTES = 32  # whatsmeow's BuildPollCreation: votes are encrypted with this secret


def context_info(extras: Decorations, quoted: ContextInfo | None = None) -> ContextInfo | None:
    """The reply, mentions and "forwarded" mark of a message; None when it carries none of them.

    `quoted` is the reply context the transport built from its own copy of the quoted message, if it had one;
    otherwise the stored text of the quote stands in for it.
    """
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message

    if extras.quote is None and not extras.mentions and not extras.forwarded:
        return None
    context = ContextInfo()
    if quoted is not None:
        context.CopyFrom(quoted)
    elif extras.quote is not None:
        context.stanzaID = extras.quote.message_id
        if extras.quote.sender and not extras.quote.from_me:
            context.participant = extras.quote.sender
        context.quotedMessage.CopyFrom(Message(conversation=extras.quote.text or ""))
    if extras.mentions:
        context.mentionedJID.extend(extras.mentions)
    if extras.forwarded:
        context.isForwarded = True
        context.forwardingScore = 1
    return context


def build_text(message: Text, context: ContextInfo | None) -> Message:
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage, Message

    preview = message.preview
    if preview is None and context is None:
        return Message(conversation=message.text)  # exactly the text: no mention parsing, no preview
    extended = ExtendedTextMessage(text=message.text)
    if preview is not None:
        extended.matchedText = preview.url
        extended.previewType = ExtendedTextMessage.PreviewType.NONE
        if preview.title:
            extended.title = preview.title
        if preview.description:
            extended.description = preview.description
        if preview.thumbnail:
            extended.JPEGThumbnail = preview.thumbnail
    if context is not None:
        extended.contextInfo.CopyFrom(context)
    return Message(extendedTextMessage=extended)


def build_media(message: Media, upload: UploadResponse, context: ContextInfo | None, *, now: float | None = None
                ) -> Message:
    """An uploaded medium as its kind's message, with what WhatsApp shows before downloading it."""
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    common: dict[str, Any] = {
        "URL": upload.url,
        "directPath": upload.DirectPath,
        "mediaKey": upload.MediaKey,
        "fileEncSHA256": upload.FileEncSHA256,
        "fileSHA256": upload.FileSHA256,
        "fileLength": upload.FileLength,
        "mimetype": message.mimetype,
        "mediaKeyTimestamp": int(now if now is not None else time.time()),
    }
    if context is not None:
        common["contextInfo"] = context
    size = {k: v for k, v in (("width", message.width), ("height", message.height)) if v}
    thumbnail = {"JPEGThumbnail": message.thumbnail} if message.thumbnail else {}
    if message.kind == "image":
        return e2e.Message(imageMessage=e2e.ImageMessage(caption=message.caption, **size, **thumbnail, **common))
    if message.kind == "video":
        return e2e.Message(videoMessage=e2e.VideoMessage(
            caption=message.caption, seconds=message.seconds, gifPlayback=message.gif_playback, **size, **thumbnail,
            **common))
    if message.kind == "audio":  # WhatsApp audio has no caption
        return e2e.Message(audioMessage=e2e.AudioMessage(PTT=message.ptt, seconds=message.seconds, **common))
    if message.kind == "sticker":
        return e2e.Message(stickerMessage=e2e.StickerMessage(isAnimated=False, **size, **common))
    name = message.file_name or "file"
    return e2e.Message(documentMessage=e2e.DocumentMessage(
        fileName=name, title=name, caption=message.caption, pageCount=message.page_count, **thumbnail, **common))


def build_location(message: Location, context: ContextInfo | None) -> Message:
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    if message.live:
        live = e2e.LiveLocationMessage(degreesLatitude=message.latitude, degreesLongitude=message.longitude,
                                       caption=message.caption, sequenceNumber=int(time.time()),
                                       contextInfo=context)
        return e2e.Message(liveLocationMessage=live)
    return e2e.Message(locationMessage=e2e.LocationMessage(
        degreesLatitude=message.latitude, degreesLongitude=message.longitude, name=message.name,
        address=message.address, contextInfo=context))


def build_contacts(message: Contacts, context: ContextInfo | None) -> Message:
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    cards = [e2e.ContactMessage(displayName=c.name, vcard=c.vcard) for c in message.cards]
    if len(cards) == 1:
        if context is not None:
            cards[0].contextInfo.CopyFrom(context)
        return e2e.Message(contactMessage=cards[0])
    return e2e.Message(contactsArrayMessage=e2e.ContactsArrayMessage(
        displayName=f"{len(cards)} contacts", contacts=cards, contextInfo=context))


def build_poll(message: Poll, context: ContextInfo | None, *, secret: bytes | None = None) -> Message:
    """whatsmeow's BuildPollCreation: the options, how many may be chosen, and the secret votes are sealed with."""
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    poll = e2e.PollCreationMessage(
        name=message.question, selectableOptionsCount=message.selectable, contextInfo=context,
        options=[e2e.PollCreationMessage.Option(optionName=o) for o in message.options])
    return e2e.Message(pollCreationMessage=poll, messageContextInfo=e2e.MessageContextInfo(
        messageSecret=secret if secret is not None else os.urandom(POLL_SECRET_BYTES)))


def message_key(target: Target) -> Any:
    """whatsmeow's BuildMessageKey: a message of someone else in a group names its writer as participant."""
    from neonize.proto.waCommon.WACommon_pb2 import MessageKey

    key = MessageKey(fromMe=target.from_me, ID=target.message_id, remoteJID=target.chat)
    if not target.from_me and target.sender and not target.chat.endswith(("@" + USER_SERVER, "@lid")):
        key.participant = target.sender
    return key


def build_reaction(message: Reaction, *, now_ms: int | None = None) -> Message:
    from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

    return e2e.Message(reactionMessage=e2e.ReactionMessage(
        key=message_key(message.target), text=message.emoji,
        senderTimestampMS=now_ms if now_ms is not None else int(time.time() * 1000)))


def build_edit(message: Edit) -> Message:
    """neonize's `build_edit` (whatsmeow's BuildEdit): a MESSAGE_EDIT protocol message carrying the new text."""
    from neonize.builder import build_edit as neonize_build_edit
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

    return neonize_build_edit(recipient_jid(message.target.chat), message.target.message_id,
                              Message(conversation=message.text))


def build_revoke(message: Revoke, own_jid: str) -> Message:
    """neonize's `build_revoke` (whatsmeow's BuildRevoke): delete for everyone, by its writer or a group admin."""
    from neonize.builder import build_revoke as neonize_build_revoke

    target = message.target
    sender = own_jid if target.from_me or not target.sender else target.sender
    return neonize_build_revoke(recipient_jid(target.chat), recipient_jid(sender), target.message_id,
                                recipient_jid(own_jid))
