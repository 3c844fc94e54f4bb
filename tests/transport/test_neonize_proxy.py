"""A session's proxy on the real neonize core (its Go library, no double): whatsmeow's dial reaches a real local
SOCKS5 or HTTP CONNECT proxy, asking for WhatsApp's websocket host with the session's credentials. The network beyond
is out of reach here, so the connect then fails, and is retried through the proxy again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.proxies import running_proxy
from tests.transport.test_neonize import Events
from wagate.transport.base import ConnectFailed
from wagate.transport.neonize import NeonizeTransport


@pytest.mark.parametrize("kind", ["socks5", "http"])
async def test_whatsmeows_dial_goes_through_the_sessions_proxy(tmp_path: Path, kind: str) -> None:
    events = Events()
    # The host check is left on: with a proxy it is skipped, as the proxy resolves WhatsApp's host, not this machine.
    transport = NeonizeTransport(events, auth_dir=tmp_path, reconnect_backoff=(30,))
    try:
        async with running_proxy(kind, user="alice", password="s3cret") as server:
            await transport.use_proxy("s1", server.url(user="alice", password="s3cret"))
            await transport.connect("s1")
            tunnel = await server.wait_for_tunnel(timeout=30)
            assert (tunnel.host, tunnel.port) == ("web.whatsapp.com", 443)
            assert (tunnel.user, tunnel.password) == ("alice", "s3cret")
            [failed] = await events.wait_for(ConnectFailed, within=30)
            assert 24 <= (failed.retry_in or 0) <= 36  # the first backoff step, 30 s, with its ±20 % jitter
            await transport.stop("s1")
    finally:
        await transport.close()
