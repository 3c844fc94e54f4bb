"""NeonizeTransport's chats and contacts against whatsmeow's behaviours (the Go boundary double): chat state refused
with neonize's reason, presence, user info, pictures, blocks, LIDs, the own profile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waVnameCert import WAWebProtobufsVnameCert_pb2 as vname
from neonize.utils.enum import ChatPresence, ChatPresenceMedia

from tests.transport.test_neonize import Events
from tests.transport.test_neonize_core import LID, TO, linked
from tests.transport.whatsmeow_double import WhatsmeowDouble, jid
from wagate.errors import TransportError
from wagate.transport.base import ProfilePicture
from wagate.transport.neonize import NeonizeTransport

CHAT = f"{TO}@s.whatsapp.net"


@pytest.fixture
async def transport(tmp_path: Path, whatsmeow: WhatsmeowDouble) -> AsyncIterator[NeonizeTransport]:
    transport = NeonizeTransport(Events(), auth_dir=tmp_path, reconnect_backoff=(0.05,), stop_timeout_s=0.5)
    yield transport
    await transport.close()


async def test_chat_state_is_refused_naming_neonizes_gap_and_nothing_is_sent(transport: NeonizeTransport,
                                                                            whatsmeow: WhatsmeowDouble) -> None:
    await linked(transport, whatsmeow)
    for change in (transport.archive_chat("s1", TO, True), transport.pin_chat("s1", TO, True),
                   transport.mute_chat("s1", TO, True), transport.mark_chat_read("s1", TO)):
        with pytest.raises(TransportError, match="not available through neonize 0.5.2"):
            await change
    assert not hasattr(whatsmeow, "SendAppState")  # a call to the Go core's SendAppState would have failed here


async def test_presence_on_demand(transport: NeonizeTransport, whatsmeow: WhatsmeowDouble) -> None:
    uuid = await linked(transport, whatsmeow)
    await transport.send_chat_presence("s1", TO, "typing")
    await transport.send_chat_presence("s1", TO, "recording")
    await transport.send_chat_presence("s1", TO, "paused")
    composing, paused = ChatPresence.CHAT_PRESENCE_COMPOSING.value, ChatPresence.CHAT_PRESENCE_PAUSED.value
    text, audio = ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT.value, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO.value
    assert whatsmeow.chat_presences == [(CHAT, composing, text), (CHAT, composing, audio), (CHAT, paused, text)]
    await transport.set_presence("s1", False)
    assert whatsmeow.presences[-1] == (uuid, b"unavailable")


async def test_people_blocks_lids_and_the_own_profile(transport: NeonizeTransport,
                                                      whatsmeow: WhatsmeowDouble) -> None:
    await linked(transport, whatsmeow)
    details = vname.VerifiedNameCertificate.Details(verifiedName="Toko Maju", issuer="smb:wa", serial=1)
    whatsmeow.users[CHAT] = pb.UserInfo(Status="Buka 08.00", PictureID="1722", Devices=[jid(TO, device=11)],
                                        VerifiedName=pb.VerifiedName(Details=details))
    info = await transport.user_info("s1", [TO, "6281200000000"])
    assert list(info) == [TO]  # a number WhatsApp knows nothing of is left out
    assert (info[TO].jid, info[TO].about, info[TO].picture_id, info[TO].verified_name, info[TO].devices) == (
        CHAT, "Buka 08.00", "1722", "Toko Maju", (f"{TO}:11@s.whatsapp.net",))

    whatsmeow.pictures[CHAT] = "1722"
    assert await transport.profile_picture("s1", TO, preview=True) == ProfilePicture(
        url="https://pps.whatsapp.net/v/1722/preview.jpg", id="1722", type="preview")
    assert await transport.profile_picture("s1", "6281200000000") is None  # ErrProfilePictureNotSet
    with pytest.raises(TransportError, match="business profiles"):
        await transport.business_profile("s1", TO)

    assert await transport.set_blocked("s1", TO, True) == [CHAT]
    assert await transport.blocklist("s1") == [CHAT]
    assert await transport.set_blocked("s1", TO, False) == []

    whatsmeow.lid_map[f"{LID}@lid"] = CHAT
    assert await transport.lid_of("s1", TO) == f"{LID}@lid"
    assert await transport.phone_of("s1", f"{LID}@lid") == CHAT
    assert await transport.lid_of("s1", "6281200000000") is None

    await transport.set_push_name("s1", "Hotel Melati")
    await transport.set_about("s1", "Reservasi 24 jam")
    assert await transport.set_profile_picture("s1", b"\xff\xd8\xff\xe0jpeg") == "1722000200"
    assert whatsmeow.own == {"push_name": "Hotel Melati", "about": "Reservasi 24 jam",
                             "picture": b"\xff\xd8\xff\xe0jpeg"}
