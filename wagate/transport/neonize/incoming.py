"""Every kind of message WhatsApp delivers, parsed from neonize's protobufs into the transport's one shape.

A received message becomes a `MessageReceived` with its type and whatever its kind carries: the text or caption,
the medium's metadata and download handle, the quoted message, mentions, a location, contact cards, a poll, a link
preview, the forwarded flag. A kind the gateway does not know is a message of type "unknown" naming its parts,
never dropped. Also the contacts' presence (`PresenceEv`, `ChatPresenceEv`) and the history the phone sends at
link time (`HistorySyncEv`). Pure functions: proto in, dataclass out; neonize is imported only for its types.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from wagate.transport.base import (
    Contact,
    HistorySynced,
    LinkPreview,
    Location,
    MediaInfo,
    MessageChanged,
    MessageReceived,
    Poll,
    PresenceState,
    PresenceUpdated,
    Quoted,
    SharedContact,
)
from wagate.transport.neonize.mapping import change, epoch_seconds, jid_to_str, sender_jids, unwrap

if TYPE_CHECKING:
    from neonize.proto.Neonize_pb2 import ChatPresence, Presence
    from neonize.proto.Neonize_pb2 import Message as MessageEv
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message, PollVoteMessage
    from neonize.proto.waHistorySync.WAWebProtobufsHistorySync_pb2 import HistorySync
    from neonize.proto.waWeb.WAWebProtobufsWeb_pb2 import WebMessageInfo

# Which field of a WhatsApp Message decides the type; the first one set wins.
KINDS: tuple[tuple[str, str], ...] = (
    ("conversation", "text"),
    ("extendedTextMessage", "text"),
    ("imageMessage", "image"),
    ("videoMessage", "video"),
    ("ptvMessage", "video"),  # a round video note
    ("audioMessage", "audio"),
    ("documentMessage", "document"),
    ("stickerMessage", "sticker"),
    ("locationMessage", "location"),
    ("liveLocationMessage", "live_location"),
    ("contactMessage", "contact"),
    ("contactsArrayMessage", "contact"),
    ("pollCreationMessage", "poll"),
    ("pollCreationMessageV2", "poll"),
    ("pollCreationMessageV3", "poll"),
)
MEDIA_KINDS = frozenset({"image", "video", "audio", "document", "sticker"})
# whatsmeow's media type (the download's key derivation and path) of each kind; a sticker downloads as an image.
DOWNLOAD_TYPES = {"image": "image", "video": "video", "audio": "audio", "document": "document", "sticker": "image"}
# Parts whatsmeow hands on for the protocol's own use (key distribution, message secrets): nothing to show.
INTERNAL_FIELDS = frozenset({"senderKeyDistributionMessage", "fastRatchetKeySenderKeyDistributionMessage",
                             "messageContextInfo", "keepInChatMessage", "pinInChatMessage", "encReactionMessage",
                             "stickerSyncRmrMessage", "placeholderMessage", "groupRootKeyShare",
                             "rootSecretDistributeMessage",
                             "call"})  # a call's key: the call itself comes as call events (CallOffered, CallEnded)
_REVOKE, _EDIT = 0, 14  # ProtocolMessage.Type numbers (checked against the proto in the tests)
# ChatPresence.State and .Media numbers in Neonize.proto (checked in the tests).
_COMPOSING, _AUDIO = 1, 2
# HistorySync.HistorySyncType numbers → the names a `history.synced` event carries.
SYNC_TYPES = {0: "initial_bootstrap", 1: "initial_status_v3", 2: "full", 3: "recent", 4: "push_name",
              5: "non_blocking_data", 6: "on_demand"}


def kind_of(message: Message) -> tuple[str, Any]:
    """The message's type and the sub-message that carries it (None for a plain conversation or unknown)."""
    for name, kind in KINDS:
        if name == "conversation":
            if message.HasField("conversation"):
                return kind, None
        elif message.HasField(name):
            return kind, getattr(message, name)
    return "unknown", None


def _has(sub: Any, name: str) -> bool:
    return name in sub.DESCRIPTOR.fields_by_name


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def media_of(kind: str, sub: Any) -> MediaInfo:
    """A medium's metadata, and the handle whatsmeow needs to download it (`DownloadMediaWithPath`)."""
    field = (lambda name: getattr(sub, name) if _has(sub, name) else None)  # noqa: E731 - a lookup, not logic
    download = None
    if sub.directPath and sub.mediaKey:
        download = {"directPath": sub.directPath, "mediaKey": _b64(sub.mediaKey),
                    "fileEncSHA256": _b64(sub.fileEncSHA256), "fileSHA256": _b64(sub.fileSHA256),
                    "fileLength": sub.fileLength, "mediaType": DOWNLOAD_TYPES[kind], "mimetype": sub.mimetype or None}
    thumbnail = field("JPEGThumbnail") or field("pngThumbnail") or field("thumbnailDirectPath")
    return MediaInfo(
        kind=kind,
        mimetype=sub.mimetype or None,
        filename=field("fileName") or None,
        size=sub.fileLength or None,
        caption=field("caption") or None,
        sha256=sub.fileSHA256.hex() if sub.fileSHA256 else None,
        width=field("width") or None,
        height=field("height") or None,
        seconds=field("seconds") or None,
        ptt=bool(field("PTT")),
        has_thumbnail=bool(thumbnail),
        download=download,
    )


def _context(sub: Any) -> ContextInfo | None:
    if sub is None or not _has(sub, "contextInfo") or not sub.HasField("contextInfo"):
        return None
    context: ContextInfo = sub.contextInfo
    return context


def quoted_of(context: ContextInfo | None) -> Quoted | None:
    """The replied-to message as the reply carries it: its id, its sender and its text (when a text)."""
    if context is None or not context.stanzaID:
        return None
    text = None
    if context.HasField("quotedMessage"):
        quoted = unwrap(context.quotedMessage)
        text = _text_of(quoted, *kind_of(quoted))
    return Quoted(message_id=context.stanzaID, sender=context.participant or None, text=text)


def _text_of(message: Message, kind: str, sub: Any) -> str | None:
    if kind == "text":
        return (message.conversation if sub is None else sub.text) or None
    if sub is not None and _has(sub, "caption"):
        return sub.caption or None
    if kind == "location":
        return sub.comment or None
    return None


def _location(kind: str, sub: Any) -> Location:
    live = kind == "live_location"
    return Location(
        latitude=sub.degreesLatitude, longitude=sub.degreesLongitude,
        name=None if live else (sub.name or None), address=None if live else (sub.address or None),
        url=None if live else (sub.URL or None), live=live or bool(sub.isLive),
        accuracy_m=sub.accuracyInMeters or None, caption=(sub.caption if live else sub.comment) or None,
    )


def _vcard_phones(vcard: str) -> tuple[str, ...]:
    """The numbers of a vCard's TEL lines (`waid=` when WhatsApp put it there, the typed number otherwise)."""
    phones = []
    for line in vcard.splitlines():
        if not line.upper().startswith(("TEL", "ITEM1.TEL", "ITEM2.TEL")) and ".TEL" not in line.upper():
            continue
        head, _, value = line.partition(":")
        waid = next((part.split("=", 1)[1] for part in head.split(";") if part.lower().startswith("waid=")), None)
        digits = waid or "".join(ch for ch in value if ch.isdigit())
        if digits:
            phones.append(digits)
    return tuple(phones)


def _contacts(sub: Any) -> tuple[SharedContact, ...]:
    cards = list(sub.contacts) if _has(sub, "contacts") else [sub]
    return tuple(SharedContact(name=c.displayName or None, vcard=c.vcard or None, phones=_vcard_phones(c.vcard))
                 for c in cards)


def _poll(sub: Any) -> Poll:
    return Poll(question=sub.name, options=tuple(o.optionName for o in sub.options),
                selectable_count=sub.selectableOptionsCount)


def _link_preview(sub: Any) -> LinkPreview | None:
    if sub is None or not (sub.matchedText or sub.title):
        return None
    return LinkPreview(url=sub.matchedText or None, title=sub.title or None, description=sub.description or None,
                       has_thumbnail=bool(sub.JPEGThumbnail or sub.thumbnailDirectPath))


def content_fields(content: Message) -> dict[str, Any]:
    """The kind-specific fields of `MessageReceived` for an unwrapped message."""
    kind, sub = kind_of(content)
    context = _context(sub)
    fields: dict[str, Any] = {
        "type": kind, "text": _text_of(content, kind, sub),
        "quoted": quoted_of(context), "quoted_message_id": context.stanzaID or None if context else None,
        "mentions": tuple(context.mentionedJID) if context else (),
        "forwarded": bool(context and (context.isForwarded or context.forwardingScore)),
    }
    if kind in MEDIA_KINDS:
        fields["media"] = media_of(kind, sub)
    elif kind in ("location", "live_location"):
        fields["location"] = _location(kind, sub)
    elif kind == "contact":
        fields["contacts"] = _contacts(sub)
    elif kind == "poll":
        fields["poll"] = _poll(sub)
    elif kind == "text" and sub is not None:
        fields["link_preview"] = _link_preview(sub)
    elif kind == "unknown":
        present = {f.name for f, _ in content.ListFields()}
        fields["unknown"] = tuple(sorted(present - INTERNAL_FIELDS))
    return fields


def message_event(session_id: str, ev: MessageEv) -> MessageReceived | MessageChanged | str:
    """What a decrypted message is: a new message (of any kind, "unknown" included), a change to another one, or
    (a string starting with "internal") the protocol's own traffic, which is not a message."""
    content = unwrap(ev.Message)
    if content.HasField("protocolMessage"):
        protocol = content.protocolMessage
        if protocol.type == _REVOKE:
            return change(session_id, ev, "revoked", protocol.key.ID, None)
        if protocol.type == _EDIT:
            edited = unwrap(protocol.editedMessage)
            return change(session_id, ev, "edited", protocol.key.ID, _text_of(edited, *kind_of(edited)))
        return f"internal protocol message {protocol.type}"
    if content.HasField("reactionMessage"):
        reaction = content.reactionMessage
        return change(session_id, ev, "reaction", reaction.key.ID, reaction.text or None)
    if content.HasField("pollUpdateMessage"):  # decrypted afterwards: only the poll's own device holds the key
        return change(session_id, ev, "poll_vote", content.pollUpdateMessage.pollCreationMessageKey.ID, None)
    present = {f.name for f, _ in content.ListFields()}
    if present <= INTERNAL_FIELDS:
        return "internal " + (",".join(sorted(present)) or "empty message")
    return message_received(session_id, ev)


def message_received(session_id: str, ev: MessageEv) -> MessageReceived:
    """Map neonize's `MessageEv` of a new message, of any kind, to `MessageReceived`."""
    info, source = ev.Info, ev.Info.MessageSource
    sender, sender_lid = sender_jids(ev)
    return MessageReceived(
        session_id=session_id, message_id=info.ID, chat=jid_to_str(source.Chat), sender=sender,
        sender_lid=sender_lid, push_name=info.Pushname or None, is_group=source.IsGroup, from_me=source.IsFromMe,
        timestamp=epoch_seconds(info.Timestamp), **content_fields(unwrap(ev.Message)),
    )


def poll_vote_hashes(vote: PollVoteMessage) -> tuple[str, ...]:
    """A decrypted vote's choices as `poll_option_hash` names them (empty: the voter took the vote back)."""
    return tuple(option.hex() for option in vote.selectedOptions)


def presence_event(session_id: str, ev: Presence) -> PresenceUpdated:
    """A contact came online or went offline (`PresenceEv`, after `subscribe_presence`)."""
    who = jid_to_str(ev.From)
    return PresenceUpdated(session_id=session_id, chat=who, sender=who,
                           state="unavailable" if ev.Unavailable else "available",
                           last_seen=epoch_seconds(ev.LastSeen) if ev.Unavailable and ev.LastSeen > 0 else None)


def chat_presence_event(session_id: str, ev: ChatPresence) -> PresenceUpdated:
    """A contact is typing, recording a voice note, or stopped, in a chat (`ChatPresenceEv`)."""
    source = ev.MessageSource
    alt = source.SenderAlt if source.HasField("SenderAlt") and source.SenderAlt.User else None
    sender = jid_to_str(alt) if alt is not None and source.Sender.Server == "lid" else jid_to_str(source.Sender)
    state: PresenceState = "paused"
    if ev.State == _COMPOSING:
        state = "recording" if ev.Media == _AUDIO else "composing"
    return PresenceUpdated(session_id=session_id, chat=jid_to_str(source.Chat), sender=sender, state=state)


def _history_message(session_id: str, info: WebMessageInfo, chat: str, own_jid: str | None,
                     phones: dict[str, str]) -> MessageReceived | None:
    """One old message as a `MessageReceived`; None for what is not a message (a change, a system notice)."""
    if not info.HasField("message"):
        return None  # a system notice (someone joined, the key changed …): WebMessageInfo.messageStubType
    content = unwrap(info.message)
    present = {f.name for f, _ in content.ListFields()}
    if present <= INTERNAL_FIELDS or present & {"protocolMessage", "reactionMessage", "pollUpdateMessage"}:
        return None
    key = info.key
    sender = (own_jid or chat) if key.fromMe else (info.participant or key.participant or chat)
    sender_lid = sender if sender.endswith("@lid") else None
    sender, chat = phones.get(sender, sender), phones.get(chat, chat)
    return MessageReceived(
        session_id=session_id, message_id=key.ID, chat=chat, sender=sender,
        sender_lid=sender_lid, push_name=info.pushName or None,
        is_group=chat.endswith("@g.us"), from_me=key.fromMe, timestamp=float(info.messageTimestamp),
        **content_fields(content),
    )


def history_synced(session_id: str, data: HistorySync, own_jid: str | None = None) -> HistorySynced:
    """One chunk of the history the phone sends at link time (`HistorySyncEv.Data`), LIDs mapped to numbers
    where the chunk maps them."""
    phones = {m.lidJID: m.pnJID for m in data.phoneNumberToLidMappings if m.lidJID and m.pnJID}
    messages = []
    for conversation in data.conversations:
        for entry in conversation.messages:
            message = _history_message(session_id, entry.message, conversation.ID, own_jid, phones)
            if message is not None:
                messages.append(message)
    return HistorySynced(session_id=session_id, messages=tuple(messages),
                         sync_type=SYNC_TYPES.get(data.syncType, str(data.syncType)),
                         progress=data.progress if data.HasField("progress") else None)


def history_contacts(data: HistorySync) -> list[Contact]:
    """The push names a history chunk carries, as contact updates (phone-number JIDs only)."""
    return [Contact(jid=entry.ID, phone=entry.ID.split("@", 1)[0], push_name=entry.pushname)
            for entry in data.pushnames if entry.ID.endswith("@s.whatsapp.net") and entry.pushname]
