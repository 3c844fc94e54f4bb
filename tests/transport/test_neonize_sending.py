"""Every message kind as neonize's real protobuf: the builders field by field, and `NeonizeTransport.send` through
neonize's own client code down to the Go boundary (`FakeGoCore` answers the upload and records the send)."""

from __future__ import annotations

from typing import Any

from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from tests.transport import test_neonize
from tests.transport.test_neonize import LID, PHONE, FakeGoCore, MessageReceived, dispatch, incoming, sink
from wagate.transport.neonize import NeonizeTransport
from wagate.transport.neonize import sending_kinds as build
from wagate.transport.outgoing import (
    ContactCard,
    Contacts,
    Decorations,
    Edit,
    LinkPreview,
    Location,
    Media,
    Poll,
    Quote,
    Reaction,
    Revoke,
    Target,
    Text,
)

transport = test_neonize.transport  # the fixtures: a real neonize client whose Go layer is `FakeGoCore`
go_core = test_neonize.go_core
CHAT = f"{PHONE}@s.whatsapp.net"
GROUP = "120363025246125888@g.us"
UPLOAD = pb.UploadResponse(url="https://mmg.whatsapp.net/x", DirectPath="/v/x", MediaKey=b"k", FileEncSHA256=b"e",
                           FileSHA256=b"s", FileLength=10_592_636, Handle="")


def test_text_with_preview_mentions_quote_and_forward() -> None:
    extras = Decorations(quote=Quote("3EB0Q", sender="628111@s.whatsapp.net", text="pinjam ruang?"),
                         mentions=("628222@s.whatsapp.net",), forwarded=True)
    text = Text("cek https://example.com @628222", preview=LinkPreview(
        "https://example.com", title="Contoh", description="Situs", thumbnail=b"\xff\xd8jpeg"), extras=extras)

    message = build.build_text(text, build.context_info(extras))

    extended = message.extendedTextMessage
    assert (extended.text, extended.matchedText, extended.title, extended.description, extended.JPEGThumbnail) == (
        "cek https://example.com @628222", "https://example.com", "Contoh", "Situs", b"\xff\xd8jpeg")
    context = extended.contextInfo
    assert (context.stanzaID, context.participant, list(context.mentionedJID)) == (
        "3EB0Q", "628111@s.whatsapp.net", ["628222@s.whatsapp.net"])
    assert context.quotedMessage == e2e.Message(conversation="pinjam ruang?")
    assert context.isForwarded and context.forwardingScore == 1
    assert build.build_text(Text("polos"), None) == e2e.Message(conversation="polos")


def test_media_carry_thumbnail_sizes_duration_and_flags() -> None:
    video = build.build_media(Media("video", b"v", "video/mp4", caption="Video", width=640, height=360, seconds=8,
                                    thumbnail=b"\xff\xd8t", gif_playback=True), UPLOAD, None, now=1_700_000_000)
    v = video.videoMessage
    assert (v.caption, v.width, v.height, v.seconds, v.JPEGThumbnail, v.gifPlayback) == (
        "Video", 640, 360, 8, b"\xff\xd8t", True)
    assert (v.URL, v.directPath, v.mediaKey, v.fileLength, v.mimetype, v.mediaKeyTimestamp) == (
        "https://mmg.whatsapp.net/x", "/v/x", b"k", 10_592_636, "video/mp4", 1_700_000_000)

    image = build.build_media(Media("image", b"i", "image/jpeg", width=640, height=480, thumbnail=b"t"), UPLOAD,
                              None).imageMessage
    assert (image.width, image.height, image.JPEGThumbnail) == (640, 480, b"t") and image.mediaKeyTimestamp > 0

    voice = build.build_media(Media("audio", b"a", "audio/ogg; codecs=opus", seconds=3, ptt=True), UPLOAD,
                              None).audioMessage
    assert (voice.PTT, voice.seconds, voice.mimetype) == (True, 3, "audio/ogg; codecs=opus")

    sticker = build.build_media(Media("sticker", b"s", "image/webp", width=512, height=512), UPLOAD, None)
    assert sticker.HasField("stickerMessage") and (sticker.stickerMessage.width, sticker.stickerMessage.mimetype) == (
        512, "image/webp")

    document = build.build_media(Media("document", b"d", "application/pdf", file_name="nota.pdf", caption="Nota",
                                       page_count=3), UPLOAD, None).documentMessage
    assert (document.fileName, document.title, document.caption, document.pageCount) == (
        "nota.pdf", "nota.pdf", "Nota", 3)


def test_location_live_location_and_contacts() -> None:
    live = build.build_location(Location(-6.2, 106.8, live=True, caption="Kurir"), None).liveLocationMessage
    assert (live.degreesLatitude, live.degreesLongitude, live.caption) == (-6.2, 106.8, "Kurir")
    assert live.sequenceNumber > 0
    one = build.build_contacts(Contacts((ContactCard("Budi", "BEGIN:VCARD\nEND:VCARD"),)), None)
    assert one == e2e.Message(contactMessage=e2e.ContactMessage(displayName="Budi", vcard="BEGIN:VCARD\nEND:VCARD"))
    many = build.build_contacts(Contacts((ContactCard("A", "BEGIN:VCARD"), ContactCard("B", "BEGIN:VCARD"))), None)
    assert many.contactsArrayMessage.displayName == "2 contacts"
    assert [c.displayName for c in many.contactsArrayMessage.contacts] == ["A", "B"]


def test_poll_carries_its_options_count_and_secret() -> None:
    message = build.build_poll(Poll("Makan di mana?", ("Padang", "Sunda"), selectable=1), None, secret=b"s" * 32)
    poll = message.pollCreationMessage
    assert (poll.name, [o.optionName for o in poll.options], poll.selectableOptionsCount) == (
        "Makan di mana?", ["Padang", "Sunda"], 1)
    assert message.messageContextInfo.messageSecret == b"s" * 32
    assert len(build.build_poll(Poll("Q", ("a", "b")), None).messageContextInfo.messageSecret) == 32


def test_reaction_edit_and_revoke_keys_follow_whatsmeow() -> None:
    theirs = Target("3EB0G", GROUP, from_me=False, sender="628111@s.whatsapp.net")
    reaction = build.build_reaction(Reaction(theirs, "👍"), now_ms=1_700_000_000_000).reactionMessage
    assert reaction.key == MessageKey(fromMe=False, ID="3EB0G", remoteJID=GROUP, participant="628111@s.whatsapp.net")
    assert (reaction.text, reaction.senderTimestampMS) == ("👍", 1_700_000_000_000)
    direct = build.build_reaction(Reaction(Target("3EB0D", CHAT, from_me=False, sender=CHAT), ""))
    assert direct.reactionMessage.key == MessageKey(fromMe=False, ID="3EB0D", remoteJID=CHAT)  # no participant
    assert direct.reactionMessage.text == ""  # taken back

    edit = build.build_edit(Edit(Target("3EB0MINE", CHAT, from_me=True), "diperbaiki"))
    protocol = edit.editedMessage.message.protocolMessage
    assert protocol.type == e2e.ProtocolMessage.MESSAGE_EDIT
    assert protocol.key == MessageKey(fromMe=True, ID="3EB0MINE", remoteJID=CHAT)
    assert protocol.editedMessage == e2e.Message(conversation="diperbaiki") and protocol.timestampMS > 0

    revoke = build.build_revoke(Revoke(Target("3EB0MINE", CHAT, from_me=True)), "6289999@s.whatsapp.net")
    assert revoke.protocolMessage.type == e2e.ProtocolMessage.REVOKE
    assert revoke.protocolMessage.key == MessageKey(fromMe=True, ID="3EB0MINE", remoteJID=CHAT)
    admin = build.build_revoke(Revoke(theirs), "6289999@s.whatsapp.net").protocolMessage.key
    assert admin == MessageKey(fromMe=False, ID="3EB0G", remoteJID=GROUP, participant="628111@s.whatsapp.net")


async def test_send_uploads_a_voice_note_and_sends_its_protobuf(transport: NeonizeTransport,
                                                                go_core: FakeGoCore) -> None:
    result = await transport.send("s1", PHONE, Media("audio", b"OggS voice", "audio/ogg; codecs=opus", seconds=4,
                                                     ptt=True))

    assert result.message_id == "3EB0OUT1"
    assert go_core.uploads == [(b"OggS voice", 2)]  # MediaType.MediaAudio
    [(to, message)] = go_core.sent
    assert (to.User, to.Server) == (PHONE, "s.whatsapp.net")
    audio = message.audioMessage
    assert (audio.PTT, audio.seconds, audio.fileLength, audio.URL) == (True, 4, 10, "https://mmg.whatsapp.net/x")


async def test_send_a_sticker_uploads_it_as_an_image(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    await transport.send("s1", PHONE, Media("sticker", b"RIFFxxxxWEBP", "image/webp", width=512, height=512))
    assert go_core.uploads == [(b"RIFFxxxxWEBP", 0)]  # MediaType.MediaImage, as whatsmeow uploads stickers
    assert go_core.sent[0][1].stickerMessage.width == 512


async def test_send_poll_reaction_edit_and_revoke(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    dispatch(transport.client("s1"), incoming("pinjam ruang?", message_id="3EB0Q"))
    await sink(transport).wait_for(MessageReceived)
    mine = Target("3EB0MINE", CHAT, from_me=True)

    await transport.send("s1", GROUP, Poll("Rapat jam?", ("09.00", "13.00"), selectable=0))
    await transport.send("s1", CHAT, Reaction(Target("3EB0Q", f"{LID}@lid", from_me=False,
                                                     sender=f"{LID}@lid"), "❤️"))
    await transport.send("s1", CHAT, Edit(mine, "baru"))
    await transport.send("s1", CHAT, Revoke(mine))
    await transport.send("s1", CHAT, Text("boleh", extras=Decorations(quote=Quote("3EB0Q", text="stored copy"))))

    kinds: list[Any] = [m for _, m in go_core.sent]
    poll, reaction, edit, revoke, reply = kinds
    assert poll.pollCreationMessage.selectableOptionsCount == 0 and len(poll.messageContextInfo.messageSecret) == 32
    assert reaction.reactionMessage.key == MessageKey(fromMe=False, ID="3EB0Q", remoteJID=f"{LID}@lid")
    assert edit.editedMessage.message.protocolMessage.editedMessage.conversation == "baru"
    assert revoke.protocolMessage.key == MessageKey(fromMe=True, ID="3EB0MINE", remoteJID=CHAT)
    # A quote the transport still holds is sent from its own copy (the received protobuf), not the stored text.
    assert reply.extendedTextMessage.contextInfo.quotedMessage == e2e.Message(conversation="pinjam ruang?")
