"""The real neonize core (its Go library, no double) on this machine's network, where WhatsApp is out of reach."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.transport.test_neonize import Events
from wagate.transport.base import ConnectFailed
from wagate.transport.neonize import NeonizeTransport


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


async def cycles(transport: NeonizeTransport, events: Events, count: int) -> list[float]:
    """Start, let the connect fail, stop during the retry, start again: the time each took to its status."""
    timings = []
    for n in range(1, count + 1):
        started = time.monotonic()
        await transport.connect("s1")
        await events.wait_for(ConnectFailed, n, within=10)
        await transport.stop("s1")
        timings.append(time.monotonic() - started)
        assert not await transport.is_connected("s1")
    return timings


@pytest.mark.parametrize("checked", [True, False], ids=["host-checked", "straight-into-go"])
async def test_ten_offline_restarts(tmp_path: Path, checked: bool) -> None:
    """Through the transport's host check the Go core is never reached, and fds and memory stay flat; straight into
    the Go core each connect fails in milliseconds but leaves a store open (neonize's main.go never closes it)."""
    events = Events()
    probe = {} if checked else {"network_probe": None}
    transport = NeonizeTransport(events, auth_dir=tmp_path, reconnect_backoff=(30,), **probe)  # type: ignore[arg-type]
    try:
        await cycles(transport, events, 2)  # warm-up: the client, its threads, first imports
        before_fds, before_rss = fds(), rss_kib()
        timings = await cycles(transport, events, 10)
        grown_fds, grown_rss = fds() - before_fds, rss_kib() - before_rss
    finally:
        await transport.close()
    print(f"\n10 offline start/stop cycles: max {max(timings):.2f} s, fds {grown_fds:+d}, RSS {grown_rss:+d} KiB")
    assert max(timings) < 10
    if checked:
        assert grown_fds <= 0 and grown_rss < 4096
    else:
        assert grown_fds <= 10
