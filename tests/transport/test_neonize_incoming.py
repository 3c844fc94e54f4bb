"""Every kind of incoming message parsed from neonize's real protobuf classes, and presence and history sync."""

from __future__ import annotations

import hashlib

import pytest
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waCommon import WACommon_pb2 as common
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from neonize.proto.waHistorySync import WAWebProtobufsHistorySync_pb2 as hs
from neonize.proto.waWeb import WAWebProtobufsWeb_pb2 as web

from tests.transport.test_neonize_events import LID, PHONE, jid, message_event, round_trip
from wagate.transport.base import (
    Contact,
    LinkPreview,
    Location,
    MessageChanged,
    MessageReceived,
    Poll,
    Quoted,
    SharedContact,
    poll_option_hash,
)
from wagate.transport.neonize import incoming

SHA = hashlib.sha256(b"the file").digest()
ENC = hashlib.sha256(b"the encrypted file").digest()
KEY = bytes(range(32))


def received(content: e2e.Message, **kwargs: object) -> MessageReceived:
    got = incoming.message_event("s1", message_event(content, sender=jid(PHONE), **kwargs))  # type: ignore[arg-type]
    assert isinstance(got, MessageReceived), got
    return got


def test_text_with_link_preview_mentions_quote_and_forwarded() -> None:
    context = e2e.ContextInfo(stanzaID="3EB0QUOTED", participant=f"{LID}@lid", mentionedJID=["62811@s.whatsapp.net"],
                              quotedMessage=e2e.Message(conversation="the question"), isForwarded=True,
                              forwardingScore=2)
    got = received(e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(
        text="see https://example.org @62811", matchedText="https://example.org", title="Example",
        description="An example", JPEGThumbnail=b"\xff\xd8", contextInfo=context)))

    assert (got.type, got.text, got.forwarded) == ("text", "see https://example.org @62811", True)
    assert got.link_preview == LinkPreview(url="https://example.org", title="Example", description="An example",
                                           has_thumbnail=True)
    assert got.mentions == ("62811@s.whatsapp.net",)
    assert got.quoted == Quoted(message_id="3EB0QUOTED", sender=f"{LID}@lid", text="the question")
    assert got.quoted_message_id == "3EB0QUOTED"


def test_image_carries_its_metadata_and_a_download_handle() -> None:
    got = received(e2e.Message(imageMessage=e2e.ImageMessage(
        mimetype="image/jpeg", caption="a photo", fileSHA256=SHA, fileEncSHA256=ENC, mediaKey=KEY, fileLength=2048,
        width=640, height=480, directPath="/v/t62.7118-24/abc", JPEGThumbnail=b"\xff\xd8")))

    media = got.media
    assert media is not None and got.type == "image" and got.text == "a photo"
    assert (media.mimetype, media.size, media.width, media.height, media.caption) == (
        "image/jpeg", 2048, 640, 480, "a photo")
    assert media.sha256 == SHA.hex() and media.has_thumbnail and not media.ptt
    assert media.download == {
        "directPath": "/v/t62.7118-24/abc", "mediaKey": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "fileEncSHA256": incoming._b64(ENC), "fileSHA256": incoming._b64(SHA), "fileLength": 2048,
        "mediaType": "image", "mimetype": "image/jpeg"}


def test_voice_note_video_document_and_sticker() -> None:
    voice = received(e2e.Message(audioMessage=e2e.AudioMessage(
        mimetype="audio/ogg; codecs=opus", seconds=7, PTT=True, fileLength=9000, fileSHA256=SHA, mediaKey=KEY,
        directPath="/v/a")))
    assert voice.type == "audio" and voice.media is not None
    assert (voice.media.ptt, voice.media.seconds, voice.media.download["mediaType"]) == (  # type: ignore[index]
        True, 7, "audio")

    video = received(e2e.Message(videoMessage=e2e.VideoMessage(
        mimetype="video/mp4", seconds=12, width=1280, height=720, caption="clip", JPEGThumbnail=b"x")))
    assert video.media is not None and (video.type, video.media.seconds, video.media.width, video.text) == (
        "video", 12, 1280, "clip")
    assert video.media.download is None  # no direct path: nothing to download

    document = received(e2e.Message(documentMessage=e2e.DocumentMessage(
        mimetype="application/pdf", fileName="invoice.pdf", fileLength=3000, caption="the invoice")))
    assert document.media is not None and (document.type, document.media.filename, document.text) == (
        "document", "invoice.pdf", "the invoice")

    sticker = received(e2e.Message(stickerMessage=e2e.StickerMessage(
        mimetype="image/webp", width=512, height=512, directPath="/v/s", mediaKey=KEY, fileLength=100)))
    assert sticker.type == "sticker" and sticker.media is not None and sticker.text is None
    assert sticker.media.download["mediaType"] == "image"  # type: ignore[index]  # whatsmeow's type for stickers


def test_location_and_live_location() -> None:
    place = received(e2e.Message(locationMessage=e2e.LocationMessage(
        degreesLatitude=-6.2, degreesLongitude=106.8, name="Monas", address="Jakarta", URL="https://maps.example")))
    assert (place.type, place.location) == ("location", Location(
        latitude=-6.2, longitude=106.8, name="Monas", address="Jakarta", url="https://maps.example"))

    live = received(e2e.Message(liveLocationMessage=e2e.LiveLocationMessage(
        degreesLatitude=-6.21, degreesLongitude=106.81, accuracyInMeters=5, caption="on my way", sequenceNumber=3)))
    assert (live.type, live.location) == ("live_location", Location(
        latitude=-6.21, longitude=106.81, live=True, accuracy_m=5, caption="on my way"))


def test_contact_cards() -> None:
    vcard = "BEGIN:VCARD\nVERSION:3.0\nFN:Siti\nitem1.TEL;waid=6281299998888:+62 812-9999-8888\nEND:VCARD"
    one = received(e2e.Message(contactMessage=e2e.ContactMessage(displayName="Siti", vcard=vcard)))
    assert (one.type, one.contacts) == ("contact", (SharedContact(name="Siti", vcard=vcard,
                                                                   phones=("6281299998888",)),))

    plain = "BEGIN:VCARD\nFN:Andi\nTEL;type=CELL:+62 811 2222 3333\nEND:VCARD"
    many = received(e2e.Message(contactsArrayMessage=e2e.ContactsArrayMessage(displayName="2 contacts", contacts=[
        e2e.ContactMessage(displayName="Siti", vcard=vcard), e2e.ContactMessage(displayName="Andi", vcard=plain)])))
    assert [(c.name, c.phones) for c in many.contacts] == [("Siti", ("6281299998888",)),
                                                           ("Andi", ("6281122223333",))]


def test_poll_creation() -> None:
    got = received(e2e.Message(pollCreationMessageV3=e2e.PollCreationMessage(
        name="Lunch?", selectableOptionsCount=1,
        options=[e2e.PollCreationMessage.Option(optionName=o) for o in ("Nasi", "Mie")])))
    assert (got.type, got.poll) == ("poll", Poll(question="Lunch?", options=("Nasi", "Mie"), selectable_count=1))


def test_an_unknown_kind_is_a_message_of_type_unknown() -> None:
    got = received(e2e.Message(callLogMesssage=e2e.CallLogMessage(isVideo=True),
                               messageContextInfo=e2e.MessageContextInfo()))
    assert (got.type, got.unknown, got.text) == ("unknown", ("callLogMesssage",), None)


def test_a_malformed_medium_still_parses() -> None:
    # Fields missing that a real phone always sets: the message is still a message, never an exception.
    got = received(e2e.Message(imageMessage=e2e.ImageMessage()))
    assert got.type == "image" and got.media is not None and got.media.download is None and got.media.size is None


@pytest.mark.parametrize(("content", "change", "text"), [
    (e2e.Message(protocolMessage=e2e.ProtocolMessage(
        type=e2e.ProtocolMessage.MESSAGE_EDIT, key=common.MessageKey(ID="3EB0OLD"),
        editedMessage=e2e.Message(conversation="fixed"))), "edited", "fixed"),
    (e2e.Message(protocolMessage=e2e.ProtocolMessage(
        type=e2e.ProtocolMessage.MESSAGE_EDIT, key=common.MessageKey(ID="3EB0OLD"),
        editedMessage=e2e.Message(imageMessage=e2e.ImageMessage(caption="new caption")))), "edited",
     "new caption"),
    (e2e.Message(protocolMessage=e2e.ProtocolMessage(type=e2e.ProtocolMessage.REVOKE,
                                                     key=common.MessageKey(ID="3EB0OLD"))), "revoked", None),
    (e2e.Message(reactionMessage=e2e.ReactionMessage(key=common.MessageKey(ID="3EB0OLD"), text="❤")),
     "reaction", "❤"),
    (e2e.Message(pollUpdateMessage=e2e.PollUpdateMessage(pollCreationMessageKey=common.MessageKey(ID="3EB0OLD"))),
     "poll_vote", None),
])
def test_changes_name_the_original(content: e2e.Message, change: str, text: str | None) -> None:
    got = incoming.message_event("s1", message_event(content, sender=jid(PHONE), message_id="3EB0CHANGE"))
    assert isinstance(got, MessageChanged)
    assert (got.change, got.message_id, got.change_id, got.text) == (change, "3EB0OLD", "3EB0CHANGE", text)


def test_protocol_traffic_is_not_a_message() -> None:
    got = incoming.message_event("s1", message_event(e2e.Message(
        senderKeyDistributionMessage=e2e.SenderKeyDistributionMessage(groupID="g")), sender=jid(PHONE)))
    assert isinstance(got, str) and got.startswith("internal")


def test_a_decrypted_vote_names_its_options_by_hash() -> None:
    vote = round_trip(e2e.PollVoteMessage(selectedOptions=[hashlib.sha256(b"Mie").digest()]))
    assert incoming.poll_vote_hashes(vote) == (poll_option_hash("Mie"),)
    assert incoming.poll_vote_hashes(e2e.PollVoteMessage()) == ()


def test_presence_and_chat_presence() -> None:
    assert pb.ChatPresence.ChatPresence.Value("COMPOSING") == incoming._COMPOSING
    assert pb.ChatPresence.ChatPresenceMedia.Value("AUDIO") == incoming._AUDIO
    online = incoming.presence_event("s1", round_trip(pb.Presence(From=jid(PHONE), Unavailable=False, LastSeen=0)))
    assert (online.state, online.sender, online.last_seen) == ("available", f"{PHONE}@s.whatsapp.net", None)
    offline = incoming.presence_event("s1", round_trip(pb.Presence(From=jid(PHONE), Unavailable=True,
                                                                   LastSeen=1_722_000_000)))
    assert (offline.state, offline.last_seen) == ("unavailable", 1_722_000_000.0)

    def chat_presence(state: int, media: int) -> pb.ChatPresence:
        source = pb.MessageSource(Chat=jid(LID, "lid"), Sender=jid(LID, "lid"), IsFromMe=False, IsGroup=False)
        source.SenderAlt.CopyFrom(jid(PHONE))
        return round_trip(pb.ChatPresence(MessageSource=source, State=state, Media=media))

    typing = incoming.chat_presence_event("s1", chat_presence(1, 1))
    assert (typing.state, typing.sender, typing.chat) == ("composing", f"{PHONE}@s.whatsapp.net", f"{LID}@lid")
    assert incoming.chat_presence_event("s1", chat_presence(1, 2)).state == "recording"
    assert incoming.chat_presence_event("s1", chat_presence(2, 1)).state == "paused"


def _old(message_id: str, content: e2e.Message | None, *, chat: str, from_me: bool = False,
         participant: str = "", seconds: int = 1_700_000_000) -> hs.HistorySyncMsg:
    info = web.WebMessageInfo(key=common.MessageKey(remoteJID=chat, fromMe=from_me, ID=message_id,
                                                    participant=participant or None),
                              messageTimestamp=seconds, pushName="Budi")
    if content is not None:
        info.message.CopyFrom(content)
    else:
        info.messageStubType = web.WebMessageInfo.StubType.Value("E2E_ENCRYPTED")
    return hs.HistorySyncMsg(message=info, msgOrderID=1)


def test_history_sync_chunk() -> None:
    lid_chat = f"{LID}@lid"
    data = round_trip(hs.HistorySync(
        syncType=hs.HistorySync.RECENT, progress=40,
        phoneNumberToLidMappings=[hs.PhoneNumberToLIDMapping(lidJID=lid_chat, pnJID=f"{PHONE}@s.whatsapp.net")],
        conversations=[
            hs.Conversation(ID=lid_chat, messages=[
                _old("OLD1", e2e.Message(conversation="dulu"), chat=lid_chat),
                _old("OLD2", e2e.Message(conversation="jawaban"), chat=lid_chat, from_me=True),
                _old("STUB", None, chat=lid_chat),
                _old("REACT", e2e.Message(reactionMessage=e2e.ReactionMessage(
                    key=common.MessageKey(ID="OLD1"), text="👍")), chat=lid_chat),
            ]),
            hs.Conversation(ID="120363000000000001@g.us", messages=[
                _old("OLD3", e2e.Message(imageMessage=e2e.ImageMessage(mimetype="image/jpeg", caption="foto")),
                     chat="120363000000000001@g.us", participant="6281200001111@s.whatsapp.net"),
            ]),
        ]))

    synced = incoming.history_synced("s1", data, own_jid="6289900001111@s.whatsapp.net")

    assert (synced.sync_type, synced.progress) == ("recent", 40)
    by_id = {m.message_id: m for m in synced.messages}
    assert list(by_id) == ["OLD1", "OLD2", "OLD3"]  # the stub and the reaction are not messages
    assert (by_id["OLD1"].chat, by_id["OLD1"].sender, by_id["OLD1"].sender_lid, by_id["OLD1"].text) == (
        f"{PHONE}@s.whatsapp.net", f"{PHONE}@s.whatsapp.net", lid_chat, "dulu")
    assert (by_id["OLD2"].from_me, by_id["OLD2"].sender) == (True, "6289900001111@s.whatsapp.net")
    assert (by_id["OLD3"].is_group, by_id["OLD3"].sender, by_id["OLD3"].type, by_id["OLD3"].text) == (
        True, "6281200001111@s.whatsapp.net", "image", "foto")
    assert by_id["OLD1"].timestamp == 1_700_000_000.0


def test_sync_type_numbers_match_the_proto() -> None:
    for name, number in hs.HistorySync.HistorySyncType.items():
        assert incoming.SYNC_TYPES[number] == name.lower()


def test_push_names_of_a_history_chunk_are_contacts() -> None:
    data = round_trip(hs.HistorySync(syncType=hs.HistorySync.PUSH_NAME, pushnames=[
        hs.Pushname(ID=f"{PHONE}@s.whatsapp.net", pushname="Budi"), hs.Pushname(ID=f"{LID}@lid", pushname="Lid"),
        hs.Pushname(ID="6281200001111@s.whatsapp.net")]))
    assert incoming.history_contacts(data) == [Contact(jid=f"{PHONE}@s.whatsapp.net", phone=PHONE, push_name="Budi")]
