"""Channels and statuses on neonize: NewsletterMetadata (neonize's real protobuf type) as the gateway's `Newsletter`,
the channel calls reaching the Go layer, and a text status built as WhatsApp's ExtendedTextMessage."""

from __future__ import annotations

from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from tests.transport.test_neonize import FakeGoCore, jid
from wagate.errors import NotFound, TransportError
from wagate.transport.base import Newsletter
from wagate.transport.neonize import NeonizeTransport
from wagate.transport.neonize.newsletters import newsletter

CHANNEL = "120363025246125888"


def metadata(name: str = "Info Toko", role: str = "OWNER") -> pb.NewsletterMetadata:
    return pb.NewsletterMetadata(
        ID=jid(CHANNEL, "newsletter"),
        State=pb.WrappedNewsletterState(Type=pb.WrappedNewsletterState.NewsletterState.Value("ACTIVE")),
        ThreadMeta=pb.NewsletterThreadMetadata(
            CreationTime=1_700_000_000, InviteCode="0029VaABCdef", Name=pb.NewsletterText(Text=name),
            Description=pb.NewsletterText(Text="Kabar toko"), SubscriberCount=321,
            VerificationState=pb.NewsletterThreadMetadata.NewsletterVerificationState.Value("VERIFIED")),
        ViewerMeta=pb.NewsletterViewerMetadata(Mute=pb.NewsletterMuteState.Value("OFF"),
                                               Role=pb.NewsletterRole.Value(role)),
    )


def test_channel_metadata_becomes_a_newsletter() -> None:
    assert newsletter(metadata()) == Newsletter(
        jid=f"{CHANNEL}@newsletter", name="Info Toko", description="Kabar toko", invite_code="0029VaABCdef",
        subscribers=321, role="owner", muted=False, verified=True)
    bare = pb.NewsletterMetadata(ID=jid(CHANNEL, "newsletter"), ThreadMeta=pb.NewsletterThreadMetadata(
        Name=pb.NewsletterText(Text="x")))
    assert newsletter(bare) == Newsletter(jid=f"{CHANNEL}@newsletter", name="x")


class ChannelsGoCore(FakeGoCore):
    def __init__(self) -> None:
        super().__init__()
        self.followed: list[tuple[str, str]] = []
        self.info_error = ""

    async def GetSubscribedNewsletters(self, uuid: bytes) -> bytes:  # noqa: N802
        return pb.GetSubscribedNewslettersReturnFunction(
            Newsletter=[metadata(), metadata("Berita", "SUBSCRIBER")]).SerializePartialToString()

    async def GetNewsletterInfo(self, uuid: bytes, jid_buf: bytes, length: int) -> bytes:  # noqa: N802
        asked = pb.JID.FromString(jid_buf[:length])
        assert (asked.User, asked.Server) == (CHANNEL, "newsletter")
        return pb.CreateNewsLetterReturnFunction(NewsletterMetadata=metadata(), Error=self.info_error
                                                 ).SerializePartialToString()

    async def GetNewsletterInfoWithInvite(self, uuid: bytes, key: bytes) -> bytes:  # noqa: N802
        return pb.CreateNewsLetterReturnFunction(NewsletterMetadata=metadata(f"by {key.decode()}", "GUEST")
                                                 ).SerializePartialToString()

    async def FollowNewsletter(self, uuid: bytes, jid_buf: bytes, length: int) -> bytes:  # noqa: N802
        self.followed.append(("follow", pb.JID.FromString(jid_buf[:length]).User))
        return b""

    async def UnfollowNewsletter(self, uuid: bytes, jid_buf: bytes, length: int) -> bytes:  # noqa: N802
        self.followed.append(("unfollow", pb.JID.FromString(jid_buf[:length]).User))
        return b"not a subscriber"


async def test_channel_calls_reach_the_go_layer(neonize_transport: NeonizeTransport) -> None:
    core = ChannelsGoCore()
    neonize_transport.client("s1")._NewAClient__client = core
    listed = await neonize_transport.newsletters("s1")
    assert [(c.name, c.role) for c in listed] == [("Info Toko", "owner"), ("Berita", "subscriber")]
    assert (await neonize_transport.newsletter("s1", jid=f"{CHANNEL}@newsletter")).subscribers == 321
    assert (await neonize_transport.newsletter("s1", invite="0029VaXYZ")).name == "by 0029VaXYZ"
    await neonize_transport.follow_newsletter("s1", f"{CHANNEL}@newsletter", True)
    try:
        await neonize_transport.follow_newsletter("s1", f"{CHANNEL}@newsletter", False)
        raise AssertionError("a refused unfollow passed")
    except TransportError as exc:
        assert "not a subscriber" in exc.message
    assert core.followed == [("follow", CHANNEL), ("unfollow", CHANNEL)]
    core.info_error = "item-not-found"
    try:
        await neonize_transport.newsletter("s1", jid=f"{CHANNEL}@newsletter")
        raise AssertionError("a missing channel was found")
    except NotFound:
        pass


async def test_a_text_status_is_an_extended_text_on_its_background_sent_to_status_broadcast(
    neonize_transport: NeonizeTransport,
) -> None:
    core = FakeGoCore()
    neonize_transport.client("s1")._NewAClient__client = core
    result = await neonize_transport.send_status_text("s1", "Promo", background_argb=0xFF1E88E5, font=2)
    [(to, message)] = core.sent
    assert (to.User, to.Server) == ("status", "broadcast")
    assert message == e2e.Message(extendedTextMessage=e2e.ExtendedTextMessage(
        text="Promo", backgroundArgb=0xFF1E88E5, textArgb=0xFFFFFFFF, font=e2e.ExtendedTextMessage.FB_SCRIPT))
    assert result.message_id == "3EB0OUT1"


async def test_a_message_to_an_owned_channel_goes_to_its_jid(neonize_transport: NeonizeTransport) -> None:
    core = FakeGoCore()
    neonize_transport.client("s1")._NewAClient__client = core
    await neonize_transport.send_text("s1", f"{CHANNEL}@newsletter", "Buka jam 9")
    [(to, message)] = core.sent
    assert (to.User, to.Server, message.conversation) == (CHANNEL, "newsletter", "Buka jam 9")
