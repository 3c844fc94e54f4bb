"""Small real proxies for the tests: SOCKS5 (RFC 1928/1929) and HTTP CONNECT servers on 127.0.0.1.

They speak their protocol for real and record each tunnel asked for (target host and port, credentials given), then
answer that the tunnel is open without dialling onward: the network beyond (WhatsApp) is out of reach here, and what
a test checks is that the session's dial went through the proxy, with the right credentials.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Tunnel:
    host: str
    port: int
    user: str | None
    password: str | None


@dataclass
class RecordingProxy:
    kind: str  # "socks5" | "http"
    user: str | None = None  # credentials it demands; None: open to anyone
    password: str | None = None
    tunnels: list[Tunnel] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why each refused request was refused
    port: int = 0
    _server: asyncio.Server | None = None
    _tunnel_opened: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, *, user: str | None = None, password: str | None = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"{self.kind}://{auth}127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for_tunnel(self, timeout: float = 15.0) -> Tunnel:
        async with asyncio.timeout(timeout):
            await self._tunnel_opened.wait()
        return self.tunnels[-1]

    def _opened(self, tunnel: Tunnel) -> None:
        self.tunnels.append(tunnel)
        self._tunnel_opened.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await (self._socks5 if self.kind == "socks5" else self._http)(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            _, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            user = password = None
            if self.user is not None:
                if 2 not in methods:
                    self.refused.append("no user/password method offered")
                    writer.write(b"\x05\xff")
                    return
                writer.write(b"\x05\x02")
                _, length = await reader.readexactly(2)
                user = (await reader.readexactly(length)).decode()
                password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
                if (user, password) != (self.user, self.password):
                    self.refused.append("bad credentials")
                    writer.write(b"\x01\x01")
                    return
                writer.write(b"\x01\x00")
            else:
                writer.write(b"\x05\x00")
            _, command, _, address_type = await reader.readexactly(4)
            if address_type == 3:
                host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            else:
                raw = await reader.readexactly(4 if address_type == 1 else 16)
                host = ".".join(str(b) for b in raw) if address_type == 1 else raw.hex()
            port = int.from_bytes(await reader.readexactly(2), "big")
            self._opened(Tunnel(host, port, user, password))
            writer.write(b"\x05\x00\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big"))
            await writer.drain()
            await reader.read(65536)  # hold the tunnel until the client closes it (nothing is relayed)

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            method, target, _ = head[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
            user = password = None
            if "proxy-authorization" in headers:
                scheme, _, token = headers["proxy-authorization"].partition(" ")
                if scheme.lower() == "basic":
                    user, _, password = base64.b64decode(token).decode().partition(":")
            if method != "CONNECT":
                self.refused.append(f"method {method}")
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            elif self.user is not None and (user, password) != (self.user, self.password):
                self.refused.append("bad credentials")
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
            else:
                host, _, port = target.rpartition(":")
                self._opened(Tunnel(host, int(port), user, password))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await reader.read(65536)
            await writer.drain()


@contextlib.asynccontextmanager
async def running_proxy(kind: str, *, user: str | None = None, password: str | None = None
                        ) -> AsyncIterator[RecordingProxy]:
    proxy = RecordingProxy(kind, user, password)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
