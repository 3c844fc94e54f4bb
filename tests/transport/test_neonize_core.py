"""NeonizeTransport against whatsmeow's behaviours, played by a double at neonize's Go boundary.

Each test goes through neonize's real Python client (its `to_thread` calls, ctypes callbacks and event dispatch);
only the Go whatsmeow below it is the double (`whatsmeow_double`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from neonize.proto import Neonize_pb2 as pb

from tests.transport.test_neonize import Events
from tests.transport.whatsmeow_double import WhatsmeowDouble
from wagate.errors import SessionNotConnected
from wagate.transport.base import (
    CallsAbandoned,
    Connected,
    Disconnected,
    LoggedOut,
    Paired,
    QRCodeIssued,
    QRCodesExhausted,
)
from wagate.transport.neonize import NeonizeTransport

PHONE = "6281234567890"


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
