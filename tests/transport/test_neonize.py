"""NeonizeTransport on a real neonize client: the Go core's dispatch path, supervision on a dead network, sends."""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest
import structlog
from neonize.aioze import events as neonize_events
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from wagate.errors import InvalidRecipient, SendLimited, SessionNotConnected, TransportError
from wagate.transport.base import (
    Account,
    ConnectFailed,
    Contact,
    ContactUpdated,
    LoggedOut,
    MessageReceived,
    QRCodeIssued,
    QRCodesExhausted,
    ReceiptReceived,
    SendResult,
    TransportEvent,
)
from wagate.transport.neonize import NeonizeTransport

E = TypeVar("E", bound=TransportEvent)
PHONE = "6281234567890"
LID = "123456789012345"


class Events:
    """The transport's sink: records every event and lets a test wait for the next one of a type."""

    def __init__(self) -> None:
        self.seen: list[TransportEvent] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: TransportEvent) -> None:
        async with self._changed:
            self.seen.append(event)
            self._changed.notify_all()

    async def wait_for(self, kind: type[E], count: int = 1, within: float = 10) -> list[E]:
        def matching() -> list[E]:
            return [e for e in self.seen if isinstance(e, kind)]

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(matching()) >= count), within)
        return matching()


def jid(user: str, server: str = "s.whatsapp.net", device: int = 0) -> pb.JID:
    return pb.JID(User=user, Server=server, Device=device, RawAgent=0, Integrator=0, IsEmpty=False)


def go_core_calls(target: Callable[..., object], *args: object) -> None:
    """Run a callback on a plain thread, as the Go core does."""
    thread = threading.Thread(target=target, args=args)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()


def dispatch(client: object, event: pb.Message) -> None:
    """Hand an event to neonize's own `Event.execute` the way the Go core does: a C buffer and its length."""
    data = event.SerializePartialToString()
    buffer = ctypes.create_string_buffer(data, len(data))
    uuid = ctypes.create_string_buffer(client.uuid)  # type: ignore[attr-defined]
    code = EVENT_TO_INT[type(event)]
    go_core_calls(client.event.execute, ctypes.addressof(uuid), ctypes.addressof(buffer), len(data), code)  # type: ignore[attr-defined]


def incoming(text: str, message_id: str = "3EB0IN1") -> pb.Message:
    source = pb.MessageSource(
        Chat=jid(LID, "lid"), Sender=jid(LID, "lid"), SenderAlt=jid(PHONE), IsFromMe=False, IsGroup=False
    )
    info = pb.MessageInfo(MessageSource=source, ID=message_id, Pushname="Ani", Timestamp=1_722_000_000_500, Type="text")
    return pb.Message(Info=info, Message=e2e.Message(conversation=text))


@pytest.fixture
async def transport(tmp_path: Path) -> AsyncIterator[NeonizeTransport]:
    transport = NeonizeTransport(Events(), auth_dir=tmp_path / "auth", reconnect_backoff=(0.05, 0.1, 0.2))
    yield transport
    await transport.close()


def sink(transport: NeonizeTransport) -> Events:
    assert isinstance(transport.sink, Events)
    return transport.sink


# --- neonize's real dispatch path ------------------------------------------------------------------------


async def test_message_from_the_go_core_reaches_the_sink(transport: NeonizeTransport, tmp_path: Path) -> None:
    client = transport.client("s1")
    assert neonize_events.event_global_loop is asyncio.get_running_loop()  # pitfall 2, set by the transport
    assert (tmp_path / "auth").is_dir()
    assert transport.client("s1") is client  # pitfall 6: one client object per session id

    dispatch(client, incoming("pinjam ruang"))

    [received] = await sink(transport).wait_for(MessageReceived)
    assert received == MessageReceived(
        session_id="s1",
        message_id="3EB0IN1",
        chat=f"{LID}@lid",
        sender=f"{PHONE}@s.whatsapp.net",
        sender_lid=f"{LID}@lid",
        push_name="Ani",
        text="pinjam ruang",
        timestamp=1_722_000_000.5,
    )
    [update] = await sink(transport).wait_for(ContactUpdated)
    assert update.contact == Contact(jid=f"{PHONE}@s.whatsapp.net", phone=PHONE, push_name="Ani")

    dispatch(client, incoming("lagi", message_id="3EB0IN2"))  # same push name: no second contact update
    await sink(transport).wait_for(MessageReceived, 2)
    assert len([e for e in sink(transport).seen if isinstance(e, ContactUpdated)]) == 1


async def test_receipt_from_the_go_core(transport: NeonizeTransport) -> None:
    source = pb.MessageSource(Chat=jid(PHONE), Sender=jid(PHONE), IsFromMe=False, IsGroup=False)
    dispatch(
        transport.client("s1"), pb.Receipt(MessageSource=source, MessageIDs=["M1"], Timestamp=1_722_000_009, Type=4)
    )

    [receipt] = await sink(transport).wait_for(ReceiptReceived)
    assert (receipt.kind, receipt.chat, receipt.message_ids) == ("read", f"{PHONE}@s.whatsapp.net", ("M1",))


async def test_logged_out_from_the_go_core(transport: NeonizeTransport) -> None:
    dispatch(transport.client("s1"), pb.LoggedOut(OnConnect=True, Reason=pb.ConnectFailureReason.LOGGED_OUT))

    [logged_out] = await sink(transport).wait_for(LoggedOut)
    assert logged_out.reason == "logged_out"
    assert await transport.account("s1") is None


async def test_a_failing_sink_is_logged_not_dropped(tmp_path: Path) -> None:
    async def broken_sink(event: TransportEvent) -> None:
        raise RuntimeError("database down")

    transport = NeonizeTransport(broken_sink, auth_dir=tmp_path)
    try:
        with structlog.testing.capture_logs() as logs:
            dispatch(transport.client("s1"), incoming("x"))
            for _ in range(100):
                if any(entry["event"] == "transport event sink failed" for entry in logs):
                    break
                await asyncio.sleep(0.01)
        failures = [entry for entry in logs if entry["event"] == "transport event sink failed"]
        assert failures and failures[0]["session_id"] == "s1"
    finally:
        await transport.close()


async def test_qr_codes_then_deadline_stops_the_session(tmp_path: Path) -> None:
    events = Events()
    transport = NeonizeTransport(events, auth_dir=tmp_path, qr_timeout_s=0.5, reconnect_backoff=(30,))
    try:
        await transport.connect("s1")
        await events.wait_for(ConnectFailed)  # no network: the session now waits out its backoff
        client = transport.client("s1")
        for code in (b"2@first,qr", b"2@second,qr"):
            qr = ctypes.create_string_buffer(code)
            go_core_calls(client._NewAClient__onQr, 0, ctypes.addressof(qr))  # the Go core's QR callback

        issued = await events.wait_for(QRCodeIssued, 2)
        assert [(e.code, e.expires_in) for e in issued] == [("2@first,qr", 60), ("2@second,qr", 20)]
        started = time.monotonic()
        await events.wait_for(QRCodesExhausted, within=5)
        assert time.monotonic() - started < 2
        assert not await transport.is_connected("s1")
        assert events.seen[-1] == QRCodesExhausted(session_id="s1")
    finally:
        await transport.close()


# --- supervision against the unreachable network (pitfalls 1, 4, 7, 9) ----------------------------------


async def test_connect_failures_retry_with_growing_backoff_and_stop_cleanly(tmp_path: Path) -> None:
    events = Events()
    transport = NeonizeTransport(events, auth_dir=tmp_path, reconnect_backoff=(0.05, 0.1, 0.2))
    sessions = ["s1", "s2", "s3"]
    for session_id in sessions:
        transport.client(session_id)
    threads_before = threading.active_count()

    started = time.monotonic()
    for session_id in sessions:
        await transport.connect(session_id)
        await transport.connect(session_id)  # a session already connecting is left alone
    await events.wait_for(ConnectFailed, 4 * len(sessions))
    failed_after = time.monotonic() - started

    for session_id in sessions:
        retries = [e.retry_in for e in events.seen if isinstance(e, ConnectFailed) and e.session_id == session_id]
        # the backoff's steps, each within its 20 % jitter: sessions that failed together do not retry together
        assert all(abs((got or 0) - step) <= 0.2 * step + 0.001 for got, step in zip(retries[:4], (0.05, 0.1, 0.2, 0.2),
                                                                              strict=True)), retries
        assert not await transport.is_connected(session_id)
    failures = [e for e in events.seen if isinstance(e, ConnectFailed)]
    assert all("web.whatsapp.com" in e.reason and not e.permanent for e in failures)
    assert failed_after < 10

    stopping = time.monotonic()
    await transport.stop("s1")
    stopped_after = time.monotonic() - stopping
    assert stopped_after < 1
    count = len(events.seen)
    await asyncio.sleep(0.5)
    assert [e for e in events.seen[count:] if e.session_id == "s1"] == []  # stopped means no more retries

    closing = time.monotonic()
    await transport.close()
    closed_after = time.monotonic() - closing
    assert closed_after < 1

    # No thread is stuck in a blocking Go call: the executor shuts down at once and the thread count is back.
    executor = asyncio.get_running_loop()._default_executor  # type: ignore[attr-defined]
    go_core_calls(executor.shutdown, True)
    assert threading.active_count() <= threads_before
    print(f"\n12 failures {failed_after:.2f}s, stop {stopped_after:.3f}s, close {closed_after:.3f}s")


async def test_connect_after_close_is_refused(transport: NeonizeTransport) -> None:
    await transport.close()
    with pytest.raises(TransportError):
        await transport.connect("s1")


# --- the send path -----------------------------------------------------------------------------------------


async def test_sends_on_a_session_that_is_not_logged_in_are_refused(transport: NeonizeTransport) -> None:
    transport.client("s1")
    with pytest.raises(SessionNotConnected):
        await transport.send_text("s1", PHONE, "halo")
    with pytest.raises(SessionNotConnected):
        await transport.send_text("unknown", PHONE, "halo")
    with pytest.raises(SessionNotConnected):
        await transport.contacts("s1")  # pitfall 5: contact.* would panic the Go core
    with pytest.raises(SessionNotConnected):
        await transport.on_whatsapp("s1", [PHONE])
    assert await transport.account("s1") is None  # pitfall 5: get_me() is not called
    assert await transport.account("unknown") is None


class FakeGoCore:
    """Stands in for neonize's Go layer on one client object: a linked, connected session that records sends.

    Only the calls that would reach WhatsApp (or need a linked device) are answered; everything above them is
    neonize's own code.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[pb.JID, e2e.Message]] = []
        self.uploads: list[tuple[bytes, int]] = []
        self.send_error = ""

    async def IsLoggedIn(self, uuid: bytes) -> bool:  # noqa: N802 - neonize's Go function names
        return True

    async def IsConnected(self, uuid: bytes) -> bool:  # noqa: N802
        return True

    async def SendMessage(self, uuid: bytes, to: bytes, to_len: int, message: bytes, message_len: int) -> bytes:  # noqa: N802
        self.sent.append((pb.JID.FromString(to[:to_len]), e2e.Message.FromString(message[:message_len])))
        response = pb.SendResponse(ID=f"3EB0OUT{len(self.sent)}", Timestamp=1_722_000_100)
        return pb.SendMessageReturnFunction(Error=self.send_error, SendResponse=response).SerializePartialToString()

    async def Upload(self, uuid: bytes, data: bytes, length: int, media_type: int) -> bytes:  # noqa: N802
        self.uploads.append((data, media_type))
        upload = pb.UploadResponse(
            url="https://mmg.whatsapp.net/x",
            DirectPath="/v/x",
            MediaKey=b"k",
            FileEncSHA256=b"e",
            FileSHA256=b"s",
            FileLength=length,
            Handle="",
        )
        return pb.UploadReturnFunction(UploadResponse=upload).SerializePartialToString()

    async def Stop(self, uuid: bytes) -> None:  # noqa: N802
        pass

    async def GetMe(self, uuid: bytes) -> bytes:  # noqa: N802
        return pb.Device(JID=jid(PHONE, device=9), PushName="Toko", Platform="android").SerializePartialToString()

    async def IsOnWhatsApp(self, uuid: bytes, numbers: bytes, length: int) -> bytes:  # noqa: N802
        found = [
            pb.IsOnWhatsAppResponse(Query=n, JID=jid(n.lstrip("+")), IsIn=n.endswith("0"))
            for n in numbers.decode().split(" ")
        ]
        return pb.IsOnWhatsAppReturnFunction(IsOnWhatsAppResponse=found).SerializePartialToString()


@pytest.fixture
async def go_core(transport: NeonizeTransport) -> FakeGoCore:
    fake = FakeGoCore()
    transport.client("s1")._NewAClient__client = fake
    return fake


async def test_send_text_sends_exactly_the_text(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    text = "Halo @6281234 *tebal* https://example.com"

    result = await transport.send_text("s1", "+62 812-3456-7890", text)

    assert result == SendResult(message_id="3EB0OUT1", timestamp=1_722_000_100.0)
    [(to, message)] = go_core.sent
    assert (to.User, to.Server, to.Device) == ("6281234567890", "s.whatsapp.net", 0)
    assert message == e2e.Message(conversation=text)  # no mention parsing, no link preview


async def test_reply_quotes_the_received_message(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    dispatch(transport.client("s1"), incoming("pinjam ruang?", message_id="3EB0Q"))
    await sink(transport).wait_for(MessageReceived)

    await transport.send_text("s1", f"{PHONE}@s.whatsapp.net", "boleh", reply_to="3EB0Q")
    await transport.send_text("s1", PHONE, "ok", reply_to="3EB0UNKNOWN")

    [(_, reply), (_, blind)] = go_core.sent
    assert reply.extendedTextMessage.text == "boleh"
    context = reply.extendedTextMessage.contextInfo
    assert (context.stanzaID, context.participant) == ("3EB0Q", f"{LID}@lid")  # the sender as WhatsApp addressed it
    assert context.quotedMessage == e2e.Message(conversation="pinjam ruang?")
    assert blind.extendedTextMessage.contextInfo == e2e.ContextInfo(stanzaID="3EB0UNKNOWN")


async def test_send_location(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    await transport.send_location(
        "s1", "120363025246125888@g.us", -6.2, 106.8166, name="Kantor", address="Jl. Sudirman"
    )

    [(to, message)] = go_core.sent
    assert (to.User, to.Server) == ("120363025246125888", "g.us")
    assert message == e2e.Message(
        locationMessage=e2e.LocationMessage(
            degreesLatitude=-6.2, degreesLongitude=106.8166, name="Kantor", address="Jl. Sudirman"
        )
    )


async def test_send_document_uploads_bytes(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    await transport.send_media(
        "s1", PHONE, "document", b"%PDF-1.4", mimetype="application/pdf", filename="nota.pdf", caption="@62811 cek"
    )

    assert go_core.uploads == [(b"%PDF-1.4", 3)]  # MediaType.MediaDocument
    document = go_core.sent[0][1].documentMessage
    assert (document.fileName, document.mimetype, document.caption) == ("nota.pdf", "application/pdf", "@62811 cek")
    assert (document.URL, document.directPath, document.fileLength) == ("https://mmg.whatsapp.net/x", "/v/x", 8)
    assert not document.contextInfo.mentionedJID


async def test_the_id_a_send_is_given_cannot_reach_whatsmeow_so_the_answer_names_whatsmeows(
    transport: NeonizeTransport, go_core: FakeGoCore
) -> None:
    from neonize._binder import gocode

    # neonize 0.5.2's Go SendMessage is (uuid, to, to_len, message, message_len): no SendRequestExtra, so no id.
    # Once a neonize release takes one, the transport should pass `message_id` on (README "Fault tolerance").
    assert len(gocode.SendMessage.argtypes) == 5
    text = await transport.send_text("s1", PHONE, "a", message_id="3EB0AAAAAAAAAAAAAAAAAA")
    place = await transport.send_location("s1", PHONE, -6.2, 106.8, message_id="3EB0BBBBBBBBBBBBBBBBBB")
    document = await transport.send_media("s1", PHONE, "document", b"%PDF", mimetype="application/pdf",
                                          message_id="3EB0CCCCCCCCCCCCCCCCCC")
    assert [r.message_id for r in (text, place, document)] == ["3EB0OUT1", "3EB0OUT2", "3EB0OUT3"]
    assert len(go_core.sent) == 3


async def test_send_errors_are_mapped(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    with pytest.raises(InvalidRecipient):
        await transport.send_text("s1", "not-a-number", "x")
    assert go_core.sent == []

    go_core.send_error = "websocket not connected"
    with pytest.raises(SessionNotConnected):
        await transport.send_text("s1", PHONE, "x")

    go_core.send_error = "server returned error 500"
    with pytest.raises(TransportError) as caught:
        await transport.send_text("s1", PHONE, "x")
    assert type(caught.value) is TransportError and not caught.value.permanent

    # WhatsApp's send limits, as send.go and ErrIQRateOverLimit word them: refused, nothing left, not permanent
    for text, code in (("server returned error 463", 463), ("server returned error 429", 429),
                       ("info query returned status 429: rate-overlimit", 429)):
        go_core.send_error = text
        with pytest.raises(SendLimited) as limited:
            await transport.send_text("s1", PHONE, "x")
        assert limited.value.code == code and not limited.value.permanent


async def test_on_whatsapp_and_account(transport: NeonizeTransport, go_core: FakeGoCore) -> None:
    found = await transport.on_whatsapp("s1", ["+6281234567890", "6281234567891", "nonsense"])

    assert found == {"+6281234567890": f"{PHONE}@s.whatsapp.net", "6281234567891": None, "nonsense": None}
    assert await transport.account("s1") == Account(
        jid=f"{PHONE}:9@s.whatsapp.net", phone=PHONE, push_name="Toko", platform="android"
    )
