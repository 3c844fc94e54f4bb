"""The neonize → transport event mapping, fed with neonize's real protobuf classes."""

from __future__ import annotations

from typing import TypeVar

import pytest
from google.protobuf.message import Message as Protobuf
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from wagate.transport.base import (
    Account,
    Contact,
    MediaInfo,
    MessageChanged,
    MessageReceived,
    ReceiptKind,
    ReceiptReceived,
)
from wagate.transport.neonize import incoming, mapping

PHONE = "6281234567890"
LID = "123456789012345"
M = TypeVar("M", bound=Protobuf)


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> pb.JID:
    return pb.JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def round_trip(message: M) -> M:
    """What the Go core hands Python: the serialised bytes, parsed again (proto2, required fields partial)."""
    return type(message).FromString(message.SerializePartialToString())


def message_event(
    content: e2e.Message,
    *,
    sender: pb.JID,
    chat: pb.JID | None = None,
    sender_alt: pb.JID | None = None,
    is_group: bool = False,
    from_me: bool = False,
    push_name: str = "Budi",
    message_id: str = "3EB0ABCDEF",
    timestamp_ms: int = 1_722_000_000_123,
) -> pb.Message:
    source = pb.MessageSource(Chat=chat or sender, Sender=sender, IsFromMe=from_me, IsGroup=is_group)
    if sender_alt is not None:
        source.SenderAlt.CopyFrom(sender_alt)
    info = pb.MessageInfo(MessageSource=source, ID=message_id, Pushname=push_name, Timestamp=timestamp_ms, Type="text")
    return round_trip(pb.Message(Info=info, Message=content))


def test_text_message_from_a_phone_number() -> None:
    ev = message_event(e2e.Message(conversation="pinjam ruang @62811 besok"), sender=jid(PHONE))

    got = incoming.message_received("s1", ev)

    assert got == MessageReceived(
        session_id="s1",
        message_id="3EB0ABCDEF",
        chat=f"{PHONE}@s.whatsapp.net",
        sender=f"{PHONE}@s.whatsapp.net",
        sender_lid=None,
        push_name="Budi",
        is_group=False,
        from_me=False,
        type="text",
        text="pinjam ruang @62811 besok",
        media=None,
        quoted_message_id=None,
        timestamp=1_722_000_000.123,
    )


def test_lid_sender_is_reported_by_its_phone_number() -> None:
    ev = message_event(
        e2e.Message(conversation="halo"), sender=jid(LID, "lid"), sender_alt=jid(PHONE), chat=jid(LID, "lid")
    )

    got = incoming.message_received("s1", ev)

    assert got.sender == f"{PHONE}@s.whatsapp.net"
    assert got.sender_lid == f"{LID}@lid"
    assert got.text == "halo"


def test_lid_sender_without_alternative_keeps_the_lid() -> None:
    got = incoming.message_received("s1", message_event(e2e.Message(conversation="x"), sender=jid(LID, "lid")))

    assert (got.sender, got.sender_lid) == (f"{LID}@lid", f"{LID}@lid")


def test_phone_sender_with_lid_alternative_keeps_both() -> None:
    ev = message_event(e2e.Message(conversation="x"), sender=jid(PHONE, device=3), sender_alt=jid(LID, "lid"))

    got = incoming.message_received("s1", ev)

    assert (got.sender, got.sender_lid) == (f"{PHONE}@s.whatsapp.net", f"{LID}@lid")


def test_group_message() -> None:
    group = jid("120363025246125888", "g.us")
    ev = message_event(e2e.Message(conversation="rapat jam 3"), sender=jid(PHONE, device=2), chat=group, is_group=True)

    got = incoming.message_received("s1", ev)

    assert got.chat == "120363025246125888@g.us"
    assert got.sender == f"{PHONE}@s.whatsapp.net"  # the device part addresses a device, not a person
    assert got.is_group is True


def test_image_with_caption() -> None:
    image = e2e.ImageMessage(caption="nota", mimetype="image/jpeg", fileLength=2048, URL="https://mmg.example/x")
    got = incoming.message_received("s1", message_event(e2e.Message(imageMessage=image), sender=jid(PHONE)))

    assert got.type == "image"
    assert got.text == "nota"
    assert got.media == MediaInfo(kind="image", mimetype="image/jpeg", filename=None, size=2048, caption="nota")


def test_document_inside_document_with_caption_envelope() -> None:
    document = e2e.DocumentMessage(fileName="laporan.pdf", mimetype="application/pdf", fileLength=99, caption="cek")
    envelope = e2e.FutureProofMessage(message=e2e.Message(documentMessage=document))
    wrapped = e2e.Message(documentWithCaptionMessage=envelope)

    got = incoming.message_received("s1", message_event(wrapped, sender=jid(PHONE)))

    assert got.type == "document"
    assert got.media == MediaInfo(
        kind="document", mimetype="application/pdf", filename="laporan.pdf", size=99, caption="cek"
    )


def test_quoted_reply_carries_the_quoted_message_id() -> None:
    context = e2e.ContextInfo(stanzaID="3EB0QUOTED", participant=f"{PHONE}@s.whatsapp.net")
    content = e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(text="siap", contextInfo=context))

    got = incoming.message_received("s1", message_event(content, sender=jid(PHONE)))

    assert (got.type, got.text, got.quoted_message_id) == ("text", "siap", "3EB0QUOTED")


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (e2e.Message(locationMessage=e2e.LocationMessage(degreesLatitude=-6.2, degreesLongitude=106.8)), "location"),
        (e2e.Message(stickerMessage=e2e.StickerMessage(mimetype="image/webp")), "sticker"),
        (e2e.Message(contactMessage=e2e.ContactMessage(displayName="Ani")), "contact"),
        (e2e.Message(pollCreationMessage=e2e.PollCreationMessage(name="?")), "poll"),
        (e2e.Message(liveLocationMessage=e2e.LiveLocationMessage(degreesLatitude=-6.2)), "live_location"),
    ],
)
def test_message_types(content: e2e.Message, kind: str) -> None:
    assert incoming.message_received("s1", message_event(content, sender=jid(PHONE))).type == kind


def test_protocol_type_numbers_match_the_proto() -> None:
    assert (e2e.ProtocolMessage.REVOKE, e2e.ProtocolMessage.MESSAGE_EDIT) == (incoming._REVOKE, incoming._EDIT)


def _protocol(kind: int, **fields: object) -> e2e.Message:
    return e2e.Message(protocolMessage=e2e.ProtocolMessage(type=kind, key={"ID": "3EB0TARGET"}, **fields))


@pytest.mark.parametrize(
    ("content", "change", "text"),
    [
        (e2e.Message(reactionMessage=e2e.ReactionMessage(text="👍", key={"ID": "3EB0TARGET"})), "reaction", "👍"),
        (e2e.Message(reactionMessage=e2e.ReactionMessage(text="", key={"ID": "3EB0TARGET"})), "reaction", None),
        (_protocol(e2e.ProtocolMessage.REVOKE), "revoked", None),
        (_protocol(e2e.ProtocolMessage.MESSAGE_EDIT, editedMessage=e2e.Message(conversation="baru")), "edited", "baru"),
        (e2e.Message(editedMessage=e2e.FutureProofMessage(message=_protocol(
            e2e.ProtocolMessage.MESSAGE_EDIT, editedMessage=e2e.Message(conversation="baru")))), "edited", "baru"),
        (e2e.Message(pollUpdateMessage=e2e.PollUpdateMessage(pollCreationMessageKey={"ID": "3EB0TARGET"})),
         "poll_vote", None),
    ],
)
def test_changes_to_a_message_are_not_new_messages(content: e2e.Message, change: str, text: str | None) -> None:
    got = incoming.message_event("s1", message_event(content, sender=jid(LID, "lid"), sender_alt=jid(PHONE)))

    assert isinstance(got, MessageChanged)
    assert (got.change, got.message_id, got.change_id, got.text) == (change, "3EB0TARGET", "3EB0ABCDEF", text)
    assert got.sender == f"{PHONE}@s.whatsapp.net"


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        (_protocol(e2e.ProtocolMessage.HISTORY_SYNC_NOTIFICATION), "internal"),
        (_protocol(e2e.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE), "internal"),
        (e2e.Message(senderKeyDistributionMessage=e2e.SenderKeyDistributionMessage(groupID="g")), "internal"),
        (e2e.Message(), "internal"),
    ],
)
def test_protocol_traffic_is_not_a_message(content: e2e.Message, verdict: str) -> None:
    got = incoming.message_event("s1", message_event(content, sender=jid(PHONE)))

    assert isinstance(got, str) and got.startswith(verdict)


def test_an_unknown_kind_is_kept_as_a_message_of_type_unknown() -> None:
    invitation = e2e.Message(eventMessage=e2e.EventMessage(name="Rapat"))  # a WhatsApp event: not parsed (yet)
    got = incoming.message_event("s1", message_event(invitation, sender=jid(PHONE)))

    assert isinstance(got, MessageReceived) and (got.type, got.unknown) == ("unknown", ("eventMessage",))


def test_a_video_note_is_a_video() -> None:
    got = incoming.message_event("s1", message_event(e2e.Message(ptvMessage=e2e.VideoMessage(mimetype="video/mp4")),
                                                     sender=jid(PHONE)))
    assert isinstance(got, MessageReceived) and got.type == "video"


@pytest.mark.parametrize(
    ("receipt_type", "kind"),
    [(pb.Receipt.DELIVERED, "delivered"), (pb.Receipt.READ, "read"), (pb.Receipt.PLAYED, "played")],
)
def test_receipts(receipt_type: int, kind: ReceiptKind) -> None:
    source = pb.MessageSource(Chat=jid(PHONE), Sender=jid(PHONE), IsFromMe=False, IsGroup=False)
    receipt = pb.Receipt(MessageSource=source, MessageIDs=["A1", "A2"], Timestamp=1_722_000_001, Type=receipt_type)
    ev = round_trip(receipt)

    got = mapping.receipt_received("s1", ev)

    assert got == ReceiptReceived(
        session_id="s1", kind=kind, chat=f"{PHONE}@s.whatsapp.net", message_ids=("A1", "A2"), timestamp=1_722_000_001.0
    )


def test_receipt_numbers_match_neonize_proto() -> None:
    assert {pb.Receipt.DELIVERED: "delivered", pb.Receipt.READ: "read", pb.Receipt.PLAYED: "played"} == (
        mapping.RECEIPT_KINDS
    )
    reasons = pb.ConnectFailureReason
    assert {reasons.LOGGED_OUT, reasons.MAIN_DEVICE_GONE, reasons.UNKNOWN_LOGOUT} == mapping.LOGGED_OUT_REASONS
    assert {reasons.TEMP_BANNED, reasons.CLIENT_OUTDATED, reasons.BAD_USER_AGENT} == mapping.PERMANENT_FAILURE_REASONS


@pytest.mark.parametrize("receipt_type", [pb.Receipt.SENDER, pb.Receipt.RETRY, pb.Receipt.READ_SELF])
def test_other_receipts_are_ignored(receipt_type: int) -> None:
    source = pb.MessageSource(Chat=jid(PHONE), Sender=jid(PHONE), IsFromMe=False, IsGroup=False)
    assert mapping.receipt_received("s1", round_trip(pb.Receipt(MessageSource=source, Type=receipt_type))) is None


def test_connected_account_from_get_me() -> None:
    device = round_trip(
        pb.Device(JID=jid(PHONE, device=12), LID=jid(LID, "lid"), PushName="Toko Budi", Platform="android")
    )

    assert mapping.account_from_device(device) == Account(
        jid=f"{PHONE}:12@s.whatsapp.net", phone=PHONE, lid=f"{LID}@lid", push_name="Toko Budi", platform="android"
    )


def test_unpaired_device_has_no_account() -> None:
    assert mapping.account_from_device(round_trip(pb.Device(PushName="", Platform=""))) is None


def test_pair_status_account() -> None:
    ev = round_trip(pb.PairStatus(ID=jid(PHONE, device=7), Platform="smba", Status=pb.PairStatus.SUCCESS))

    assert mapping.account_from_pair(ev) == Account(jid=f"{PHONE}:7@s.whatsapp.net", phone=PHONE, platform="smba")


def test_logged_out_reason_name() -> None:
    ev = round_trip(pb.LoggedOut(OnConnect=True, Reason=pb.ConnectFailureReason.MAIN_DEVICE_GONE))

    assert mapping.failure_reason_name(ev.Reason) == "main_device_gone"


def test_push_name_becomes_a_contact_update_but_not_for_own_messages() -> None:
    text = e2e.Message(conversation="x")
    theirs = message_event(text, sender=jid(LID, "lid"), sender_alt=jid(PHONE), push_name="Ani")
    mine = message_event(e2e.Message(conversation="x"), sender=jid(PHONE), from_me=True, push_name="Me")

    assert mapping.contact_from_message(theirs) == Contact(jid=f"{PHONE}@s.whatsapp.net", phone=PHONE, push_name="Ani")
    assert mapping.contact_from_message(mine) is None


def test_stored_contact() -> None:
    info = pb.ContactInfo(Found=True, FirstName="Ani", FullName="Ani Wijaya", PushName="ani", BusinessName="")
    entry = round_trip(pb.Contact(JID=jid(PHONE), Info=info))

    assert mapping.contact_from_store(entry) == Contact(
        jid=f"{PHONE}@s.whatsapp.net", phone=PHONE, name="Ani Wijaya", push_name="ani", business_name=None
    )


@pytest.mark.parametrize(("raw", "seconds"), [(1_722_000_000_123, 1_722_000_000.123), (1_722_000_000, 1_722_000_000.0)])
def test_epoch_seconds(raw: int, seconds: float) -> None:
    assert mapping.epoch_seconds(raw) == seconds
