"""NeonizeTransport against whatsmeow's behaviours, played by a double at neonize's Go boundary.

Each test goes through neonize's real Python client (its `to_thread` calls, ctypes callbacks and event dispatch);
only the Go whatsmeow below it is the double (`whatsmeow_double`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e

from tests.transport.test_neonize import Events
from tests.transport.whatsmeow_double import WhatsmeowDouble, jid
from wagate.errors import RecipientNotOnWhatsApp, SessionNotConnected
from wagate.transport.base import (
    CallsAbandoned,
    Connected,
    ConnectFailed,
    Disconnected,
    LoggedOut,
    MessageReceived,
    Paired,
    QRCodeIssued,
    QRCodesExhausted,
)
from wagate.transport.neonize import NeonizeTransport

PHONE = "6281234567890"
TO = "6285712345678"
LID = "123456789012345"


@pytest.fixture
async def transport(tmp_path: Path, whatsmeow: WhatsmeowDouble) -> AsyncIterator[NeonizeTransport]:
    transport = NeonizeTransport(Events(), auth_dir=tmp_path, reconnect_backoff=(0.05,), stop_timeout_s=0.5,
                                 max_abandoned=3)
    yield transport
    await transport.close()


def events(transport: NeonizeTransport) -> Events:
    assert isinstance(transport.sink, Events)
    return transport.sink


async def test_stop_during_qr_returns_and_the_next_connect_shows_a_new_qr(
    transport: NeonizeTransport, whatsmeow: WhatsmeowDouble
) -> None:
    await transport.connect("s1")
    await events(transport).wait_for(QRCodeIssued)
    threads = threading.active_count()

    started = time.monotonic()
    await transport.stop("s1")  # whatsmeow leaves the QR channel open: the Go call never returns
    assert time.monotonic() - started < 2
    assert whatsmeow.stuck == 1 and transport.abandoned_calls == 1

    started = time.monotonic()
    await transport.connect("s1")  # a fresh client: a new QR at once, not a wait on the stuck one
    await events(transport).wait_for(QRCodeIssued, 2, within=3)
    assert time.monotonic() - started < 2
    assert threading.active_count() <= threads + 1  # the stuck call's thread, and nothing else

    whatsmeow.scan(transport.client("s1").uuid, PHONE)  # the phone scans the fresh client's code
    await events(transport).wait_for(Connected)
    [paired] = await events(transport).wait_for(Paired)
    assert paired.account.phone == PHONE


async def test_qr_expiry_and_pair_errors_end_within_seconds(tmp_path: Path, whatsmeow: WhatsmeowDouble) -> None:
    sink = Events()
    transport = NeonizeTransport(sink, auth_dir=tmp_path, qr_timeout_s=0.3, stop_timeout_s=0.5)
    try:
        await transport.connect("s1")
        started = time.monotonic()
        await sink.wait_for(QRCodesExhausted, within=5)  # the Go call is stuck, the deadline still lands
        assert time.monotonic() - started < 2
        assert not await transport.is_connected("s1")

        await transport.connect("s1")
        await sink.wait_for(QRCodeIssued, 2)
        whatsmeow.pair_error(transport.client("s1").uuid)  # whatsmeow closes the QR channel; Go waits for good
        await sink.wait_for(QRCodeIssued, 3, within=5)  # a fresh client offers a new code
        assert transport.abandoned_calls == 2
    finally:
        await transport.close()


async def test_abandoned_calls_are_bounded_and_reported(
    transport: NeonizeTransport, whatsmeow: WhatsmeowDouble
) -> None:
    for n in range(1, 4):
        await transport.connect("s1")
        await events(transport).wait_for(QRCodeIssued, n)
        await transport.stop("s1")
    assert transport.abandoned_calls == 3
    [worn] = await events(transport).wait_for(CallsAbandoned)
    assert (worn.count, worn.limit) == (3, 3)


async def test_ten_restarts_each_reach_their_status(transport: NeonizeTransport, whatsmeow: WhatsmeowDouble) -> None:
    timings = []
    for n in range(1, 11):
        started = time.monotonic()
        await transport.connect("s1")
        await events(transport).wait_for(QRCodeIssued, n)
        await transport.stop("s1")
        timings.append(time.monotonic() - started)
        await asyncio.sleep(0)
    assert max(timings) < 10
    print(f"\n10 connect/stop cycles in the QR phase: max {max(timings):.2f} s")


# --- smaller faults ------------------------------------------------------------------------------------------


async def linked(transport: NeonizeTransport, whatsmeow: WhatsmeowDouble, session_id: str = "s1") -> bytes:
    """A linked session, connected: its store holds a device, so the Go core connects without QR codes."""
    whatsmeow.linked[str(transport.auth_dir / f"{session_id}.sqlite3")] = PHONE
    await transport.connect(session_id)
    await events(transport).wait_for(Connected)
    return transport.client(session_id).uuid


async def test_a_logging_out_connect_failure_logs_the_session_out(
    transport: NeonizeTransport, whatsmeow: WhatsmeowDouble
) -> None:
    uuid = await linked(transport, whatsmeow)
    whatsmeow.deliver(uuid, pb.ConnectFailure(Reason=pb.ConnectFailureReason.LOGGED_OUT, Message="401"))

    [logged_out] = await events(transport).wait_for(LoggedOut)
    assert logged_out.reason == "logged_out"


async def test_stream_replaced_says_why(transport: NeonizeTransport, whatsmeow: WhatsmeowDouble) -> None:
    uuid = await linked(transport, whatsmeow)
    whatsmeow.deliver(uuid, pb.StreamReplaced())

    [gone] = await events(transport).wait_for(Disconnected)
    assert "another client took over" in gone.reason and not gone.will_reconnect


async def test_a_send_on_a_store_without_device_waits_for_the_session(
    transport: NeonizeTransport, whatsmeow: WhatsmeowDouble
) -> None:
    await linked(transport, whatsmeow)
    whatsmeow.send_errors.append("the store doesn't contain a device JID")
    with pytest.raises(SessionNotConnected):
        await transport.send_text("s1", PHONE, "halo")


# --- recipients, LIDs, presence ----------------------------------------------------------------------------


async def test_a_number_is_sent_to_the_jid_whatsapp_answers_and_asked_once(
    transport: NeonizeTransport, whatsmeow: WhatsmeowDouble
) -> None:
    await linked(transport, whatsmeow)
    whatsmeow.on_whatsapp["+5511987654321"] = "551187654321@s.whatsapp.net"  # Brazil: WhatsApp's id lacks the 9
    whatsmeow.on_whatsapp["+6289999999999"] = None

    await transport.send_text("s1", "+55 11 98765-4321", "olá")
    await transport.send_text("s1", "5511987654321@s.whatsapp.net", "de novo")
    with pytest.raises(RecipientNotOnWhatsApp):
        await transport.send_text("s1", "6289999999999", "halo")
    with pytest.raises(RecipientNotOnWhatsApp):
        await transport.send_media("s1", "6289999999999", "document", b"%PDF", mimetype="application/pdf")

    assert [to for to, _ in whatsmeow.sent] == ["551187654321@s.whatsapp.net"] * 2
    assert whatsmeow.on_whatsapp_queries == ["+5511987654321", "+6289999999999"]  # each asked once


def lid_only(text: str, message_id: str, group: bool = False) -> pb.Message:
    chat = jid("120363025246125888", "g.us") if group else jid(LID, "lid")
    source = pb.MessageSource(Chat=chat, Sender=jid(LID, "lid"), IsFromMe=False, IsGroup=group)
    info = pb.MessageInfo(MessageSource=source, ID=message_id, Pushname="Ani", Timestamp=1_722_000_000_500, Type="")
    return pb.Message(Info=info, Message=e2e.Message(conversation=text))


async def test_a_lid_only_sender_is_resolved_and_read_receipts_name_it_as_addressed(
    transport: NeonizeTransport, whatsmeow: WhatsmeowDouble
) -> None:
    uuid = await linked(transport, whatsmeow)
    whatsmeow.lid_map[f"{LID}@lid"] = f"{TO}@s.whatsapp.net"
    whatsmeow.deliver(uuid, lid_only("halo", "3EB0G1", group=True))

    [received] = await events(transport).wait_for(MessageReceived)
    assert (received.sender, received.sender_lid) == (f"{TO}@s.whatsapp.net", f"{LID}@lid")

    await transport.mark_read("s1", received.chat, received.sender, [received.message_id])
    assert whatsmeow.read_marks == [(("3EB0G1",), "120363025246125888@g.us", f"{LID}@lid")]


async def test_presence_is_announced_on_connect(transport: NeonizeTransport, whatsmeow: WhatsmeowDouble) -> None:
    uuid = await linked(transport, whatsmeow)
    await until_true(lambda: bool(whatsmeow.presences))
    assert whatsmeow.presences == [(uuid, b"available")]


async def until_true(check: Callable[[], bool], within: float = 5) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_retries_while_offline_open_no_store(tmp_path: Path, whatsmeow: WhatsmeowDouble) -> None:
    async def network() -> str | None:  # the double's network, as the transport's probe sees it
        return None if whatsmeow.network else "web.whatsapp.com unreachable: no such host"

    sink = Events()
    transport = NeonizeTransport(sink, auth_dir=tmp_path, reconnect_backoff=(0.01,), network_probe=network)
    try:
        whatsmeow.network = False
        whatsmeow.linked[str(tmp_path / "s1.sqlite3")] = PHONE
        await transport.connect("s1")
        await sink.wait_for(ConnectFailed, 50)
        assert whatsmeow.stores_opened == 0  # the Go core would leak one store per call

        whatsmeow.network = True
        await sink.wait_for(Connected)
        assert whatsmeow.stores_opened == 1
    finally:
        await transport.close()


async def test_events_reach_the_sink_in_the_order_whatsapp_produced_them(
    transport: NeonizeTransport, whatsmeow: WhatsmeowDouble
) -> None:
    uuid = await linked(transport, whatsmeow)
    whatsmeow.get_me_delay_s = 0.3  # Connected's handler asks the Go core for the account: slower than a message
    whatsmeow.deliver(uuid, pb.Connected(status=True), lid_only("satu", "3EB0O1"), lid_only("dua", "3EB0O2"),
                      gap_s=0.02)

    await events(transport).wait_for(MessageReceived, 2)
    await events(transport).wait_for(Connected, 2)
    after_link = [e for e in events(transport).seen if isinstance(e, Connected | MessageReceived)][1:]
    assert [type(e).__name__ for e in after_link] == ["Connected", "MessageReceived", "MessageReceived"]
    assert [e.message_id for e in after_link[1:]] == ["3EB0O1", "3EB0O2"]  # type: ignore[union-attr]


async def test_a_restart_with_many_linked_sessions_connects_them_paced_within_a_bound(
    tmp_path: Path, whatsmeow: WhatsmeowDouble
) -> None:
    probes = 0

    async def network() -> str | None:  # a real probe takes a round trip
        nonlocal probes
        probes += 1
        await asyncio.sleep(0.05)
        return None

    n, stagger = 30, 0.05
    sink = Events()
    transport = NeonizeTransport(sink, auth_dir=tmp_path, connect_stagger_s=stagger, network_probe=network)
    try:
        for k in range(n):
            whatsmeow.linked[str(tmp_path / f"r{k}.sqlite3")] = f"62811000{k:04d}"
        started = time.monotonic()
        for k in range(n):  # what a restarted bridge does: every session it resumes, at once
            await transport.connect(f"r{k}")
        await sink.wait_for(Connected, n, within=n * stagger * 4 + 5)
        took = time.monotonic() - started
    finally:
        await transport.close()
    gaps = [b - a for a, b in zip(whatsmeow.connect_times, whatsmeow.connect_times[1:], strict=False)]
    # pitfall 4: one Go connect at a time, a stagger apart (each Go call starts on a pool thread, a little late)
    assert len(whatsmeow.connect_times) == n and sum(gaps) / len(gaps) >= stagger * 0.95 and min(gaps) > stagger / 2
    assert took <= n * stagger * 2 + 1  # the bound: the stagger per session, and little else
    assert probes == 1  # one reachability check for the whole storm, not one TCP connection per session
    print(f"\n{n} linked sessions connected in {took:.2f} s (stagger {stagger} s; {probes} probe)")
