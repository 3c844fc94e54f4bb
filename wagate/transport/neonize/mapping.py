"""Pure mappings from neonize's protobuf events to the transport's own events (proto in, dataclass out).

Only the neonize transport's modules use this one. neonize itself is imported inside the functions that need
it, never at module level, so importing this module does not start neonize (pitfall 10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wagate.transport.base import (
    Account,
    ChangeKind,
    Contact,
    MediaInfo,
    MessageChanged,
    MessageReceived,
    ReceiptKind,
    ReceiptReceived,
)

if TYPE_CHECKING:
    from neonize.proto.Neonize_pb2 import JID, Device, PairStatus, Receipt
    from neonize.proto.Neonize_pb2 import Contact as StoredContact
    from neonize.proto.Neonize_pb2 import Message as MessageEv
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

# Receipt.ReceiptType numbers in neonize's Neonize.proto (checked against the proto in the tests).
RECEIPT_KINDS: dict[int, ReceiptKind] = {1: "delivered", 4: "read", 6: "played"}

# ConnectFailureReason numbers in Neonize.proto that mean the device is unlinked, and those that no retry
# can fix; the other reasons (generic, server error, service unavailable …) are worth retrying.
LOGGED_OUT_REASONS = frozenset({2, 4, 5})  # LOGGED_OUT, MAIN_DEVICE_GONE, UNKNOWN_LOGOUT
PERMANENT_FAILURE_REASONS = frozenset({3, 6, 7})  # TEMP_BANNED, CLIENT_OUTDATED, BAD_USER_AGENT

# Which field of a WhatsApp Message decides our message type; the first one set wins.
_TYPE_FIELDS: tuple[tuple[str, str], ...] = (
    ("conversation", "text"),
    ("extendedTextMessage", "text"),
    ("imageMessage", "image"),
    ("videoMessage", "video"),
    ("audioMessage", "audio"),
    ("documentMessage", "document"),
    ("stickerMessage", "sticker"),
    ("locationMessage", "location"),
    ("liveLocationMessage", "location"),
    ("contactMessage", "contact"),
    ("contactsArrayMessage", "contact"),
    ("ptvMessage", "video"),  # a round video note
)
_MEDIA_KINDS = frozenset({"image", "video", "audio", "document", "sticker"})
# Envelopes whatsmeow usually unwraps already; unwrapped again so a raw one still maps to its content.
_WRAPPERS = ("ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
             "documentWithCaptionMessage", "editedMessage")
# Fields whatsmeow hands on for the protocol's own use (key distribution, message secrets): nothing to show.
_INTERNAL_FIELDS = frozenset({"senderKeyDistributionMessage", "fastRatchetKeySenderKeyDistributionMessage",
                              "messageContextInfo", "keepInChatMessage", "pinInChatMessage", "encReactionMessage",
                              "stickerSyncRmrMessage", "placeholderMessage", "groupRootKeyShare",
                              "rootSecretDistributeMessage"})
_REVOKE, _EDIT = 0, 14  # ProtocolMessage.Type numbers in WAWebProtobufsE2E.proto (checked in the tests)


def jid_to_str(jid: JID, *, device: bool = False) -> str:
    """`user@server` (or `user:device@server` when `device`), the string form whatsmeow uses."""
    if not jid.User:
        return jid.Server
    if device and jid.RawAgent > 0:
        return f"{jid.User}.{jid.RawAgent}:{jid.Device}@{jid.Server}"
    if device and jid.Device > 0:
        return f"{jid.User}:{jid.Device}@{jid.Server}"
    return f"{jid.User}@{jid.Server}"


def _is_lid(jid: JID) -> bool:
    return jid.Server == "lid"


def epoch_seconds(value: int) -> float:
    """Seconds since the epoch from a neonize timestamp.

    neonize gives milliseconds for message times and seconds elsewhere; no second count before the year
    5000 reaches 1e11, so anything larger is milliseconds.
    """
    return value / 1000 if value > 100_000_000_000 else float(value)


def account_from_device(device: Device) -> Account | None:
    """The linked account from `get_me()`; None when the device has no JID yet (not paired)."""
    if not device.HasField("JID") or not device.JID.User:
        return None
    lid = jid_to_str(device.LID) if device.HasField("LID") and device.LID.User else None
    return Account(
        jid=jid_to_str(device.JID, device=True),
        phone=device.JID.User,
        lid=lid,
        push_name=device.PushName or None,
        platform=device.Platform or None,
    )


def account_from_pair(ev: PairStatus) -> Account:
    """The account a successful `PairStatus` names (no LID or push name is known at that point)."""
    return Account(
        jid=jid_to_str(ev.ID, device=True),
        phone=ev.ID.User,
        platform=ev.Platform or None,
    )


def unwrap(message: Message) -> Message:
    """The content message inside ephemeral / view-once / document-with-caption envelopes."""
    for _ in range(3):  # envelopes nest at most a couple of levels deep
        for name in _WRAPPERS:
            inner = getattr(message, name)
            if inner.HasField("message"):
                message = inner.message
                break
        else:
            return message
    return message


def message_type(message: Message) -> tuple[str, Any]:
    """Our message type and the sub-message that carries it (None for a plain conversation)."""
    for name, kind in _TYPE_FIELDS:
        if name == "conversation":
            if message.HasField("conversation"):
                return kind, None
        elif message.HasField(name):
            return kind, getattr(message, name)
    return "other", None


def _media_info(kind: str, sub: Any) -> MediaInfo:
    fields = {f.name for f in sub.DESCRIPTOR.fields}
    return MediaInfo(
        kind=kind,
        mimetype=sub.mimetype or None,
        filename=(sub.fileName or None) if "fileName" in fields else None,
        size=sub.fileLength or None,
        caption=(sub.caption or None) if "caption" in fields else None,
    )


def quoted_message_id(kind: str, sub: Any) -> str | None:
    """The id of the message this one replies to (or reacts to), from its contextInfo."""
    if sub is None:
        return None
    if "contextInfo" in sub.DESCRIPTOR.fields_by_name and sub.HasField("contextInfo"):
        return sub.contextInfo.stanzaID or None
    return None


def sender_jids(ev: MessageEv) -> tuple[str, str | None]:
    """(phone-number JID, LID or None) of a message's sender.

    WhatsApp may address the sender by LID; whatsmeow then puts the phone-number JID in `SenderAlt`. When
    the alternative is missing too, the LID is all there is and stands in as the sender.
    """
    source = ev.Info.MessageSource
    sender, alt = source.Sender, source.SenderAlt
    alt_set = source.HasField("SenderAlt") and bool(alt.User)
    if _is_lid(sender):
        phone_jid = jid_to_str(alt) if alt_set and not _is_lid(alt) else jid_to_str(sender)
        return phone_jid, jid_to_str(sender)
    return jid_to_str(sender), (jid_to_str(alt) if alt_set and _is_lid(alt) else None)


def message_event(session_id: str, ev: MessageEv) -> MessageReceived | MessageChanged | str:
    """What a decrypted message is: a new message, a change to another one, or (a string) why it is neither.

    whatsmeow hands on every decrypted message (message.go): history-sync notifications and app-state key shares
    come the same way as chat messages and are the protocol's business; edits, revokes, reactions and poll votes
    change an earlier message. The reasons returned start with "internal" or "unknown".
    """
    from neonize.utils.message import extract_text

    content = unwrap(ev.Message)
    if content.HasField("protocolMessage"):
        protocol = content.protocolMessage
        if protocol.type == _REVOKE:
            return _change(session_id, ev, "revoked", protocol.key.ID, None)
        if protocol.type == _EDIT:
            return _change(session_id, ev, "edited", protocol.key.ID, extract_text(protocol.editedMessage) or None)
        return f"internal protocol message {protocol.type}"
    if content.HasField("reactionMessage"):
        reaction = content.reactionMessage
        return _change(session_id, ev, "reaction", reaction.key.ID, reaction.text or None)
    if content.HasField("pollUpdateMessage"):  # the vote itself is encrypted for the poll's creator
        return _change(session_id, ev, "poll_vote", content.pollUpdateMessage.pollCreationMessageKey.ID, None)
    present = {f.name for f, _ in content.ListFields()}
    if message_type(content)[0] != "other" or (extract_text(content) and not present <= _INTERNAL_FIELDS):
        return message_received(session_id, ev)
    if present <= _INTERNAL_FIELDS:
        return "internal " + (",".join(sorted(present)) or "empty message")
    return "unknown " + ",".join(sorted(present - _INTERNAL_FIELDS))


def _change(session_id: str, ev: MessageEv, change: ChangeKind, target: str, text: str | None) -> MessageChanged:
    sender, _ = sender_jids(ev)
    return MessageChanged(
        session_id=session_id, change=change, message_id=target, change_id=ev.Info.ID,
        chat=jid_to_str(ev.Info.MessageSource.Chat), sender=sender, from_me=ev.Info.MessageSource.IsFromMe,
        text=text, timestamp=epoch_seconds(ev.Info.Timestamp),
    )


def message_received(session_id: str, ev: MessageEv) -> MessageReceived:
    """Map neonize's `MessageEv` of a new message to `MessageReceived`."""
    from neonize.utils.message import extract_text

    info, source = ev.Info, ev.Info.MessageSource
    content = unwrap(ev.Message)
    kind, sub = message_type(content)
    text: str | None = extract_text(content) or None
    sender, sender_lid = sender_jids(ev)
    return MessageReceived(
        session_id=session_id,
        message_id=info.ID,
        chat=jid_to_str(source.Chat),
        sender=sender,
        sender_lid=sender_lid,
        push_name=info.Pushname or None,
        is_group=source.IsGroup,
        from_me=source.IsFromMe,
        type=kind,
        text=text,
        media=_media_info(kind, sub) if kind in _MEDIA_KINDS else None,
        quoted_message_id=quoted_message_id(kind, sub),
        timestamp=epoch_seconds(info.Timestamp),
    )


def contact_from_message(ev: MessageEv) -> Contact | None:
    """The sender as a contact with the push name the message carries; None for our own messages.

    neonize does not pass whatsmeow's PushName event on, so a message is where a new push name shows up.
    """
    if ev.Info.MessageSource.IsFromMe or not ev.Info.Pushname:
        return None
    sender, _ = sender_jids(ev)
    user, _, server = sender.partition("@")
    return Contact(jid=sender, phone=user if server == "s.whatsapp.net" else None, push_name=ev.Info.Pushname)


def contact_from_store(entry: StoredContact) -> Contact:
    """A contact from whatsmeow's contact store (`client.contact.get_all_contacts()`)."""
    info = entry.Info
    jid = jid_to_str(entry.JID)
    return Contact(
        jid=jid,
        phone=entry.JID.User if entry.JID.Server == "s.whatsapp.net" else None,
        name=info.FullName or info.FirstName or None,
        push_name=info.PushName or None,
        business_name=info.BusinessName or None,
    )


def receipt_received(session_id: str, ev: Receipt) -> ReceiptReceived | None:
    """Map neonize's `ReceiptEv`; None for receipt types the gateway does not track (sender, retry …)."""
    kind = RECEIPT_KINDS.get(ev.Type)
    if kind is None:
        return None
    return ReceiptReceived(
        session_id=session_id,
        kind=kind,
        chat=jid_to_str(ev.MessageSource.Chat),
        message_ids=tuple(ev.MessageIDs),
        timestamp=epoch_seconds(ev.Timestamp),
    )


def failure_reason_name(reason: int) -> str:
    """`ConnectFailureReason` number → lower-case name, e.g. 2 → "logged_out"."""
    from neonize.proto.Neonize_pb2 import ConnectFailureReason

    try:
        return ConnectFailureReason.Name(reason).lower()
    except ValueError:
        return f"reason_{reason}"
