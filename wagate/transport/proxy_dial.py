"""Opening a tunnel through a session's proxy, as a WhatsApp client does before its websocket: HTTP CONNECT
(http://, https://) or SOCKS5 (RFC 1928, user/password auth of RFC 1929). The simulator dials through it to show a
proxy works; a failure says which step refused, so the session's status reason names the cause."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from urllib.parse import unquote, urlsplit

WHATSAPP_HOST, WHATSAPP_PORT = "web.whatsapp.com", 443
_SOCKS_REPLIES = {1: "general failure", 2: "connection not allowed by ruleset", 3: "network unreachable",
                  4: "host unreachable", 5: "connection refused", 6: "TTL expired", 7: "command not supported",
                  8: "address type not supported"}


def proxy_address(proxy_url: str) -> str:
    """host:port of a proxy URL, without its credentials: how a reason names the proxy."""
    return urlsplit(proxy_url).netloc.rpartition("@")[2]


class ProxyRefused(Exception):
    """The proxy could not be reached, or refused the tunnel; the message says which."""


async def dial(proxy_url: str, host: str = WHATSAPP_HOST, port: int = WHATSAPP_PORT, *,
               timeout_s: float = 10.0) -> None:
    """Open a tunnel to host:port through the proxy and close it again; `ProxyRefused` says why it failed."""
    parts = urlsplit(proxy_url)
    if parts.hostname is None or parts.port is None:
        raise ProxyRefused("the proxy URL has no host and port")
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            try:
                reader, writer = await asyncio.open_connection(
                    parts.hostname, parts.port, ssl=ssl.create_default_context() if parts.scheme == "https" else None)
            except ConnectionRefusedError as exc:
                raise ProxyRefused("cannot reach the proxy: connection refused") from exc
            except OSError as exc:
                raise ProxyRefused(f"cannot reach the proxy: {exc.strerror or type(exc).__name__}") from exc
            user = unquote(parts.username) if parts.username else None
            password = unquote(parts.password) if parts.password else ""
            if parts.scheme == "socks5":
                await _socks5(reader, writer, host, port, user, password)
            else:
                await _http_connect(reader, writer, host, port, user, password)
    except TimeoutError as exc:
        raise ProxyRefused(f"the proxy did not answer within {timeout_s:.0f} s") from exc
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ProxyRefused("the proxy closed the connection") from exc
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _http_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int,
                        user: str | None, password: str) -> None:
    lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
    if user is not None:
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line = head.split("\r\n", 1)[0]
    fields = status_line.split(" ", 2)
    if len(fields) < 2 or not fields[1].isdigit():
        raise ProxyRefused(f"not an HTTP proxy (it answered {status_line[:60]!r})")
    if fields[1] == "407":
        raise ProxyRefused("the proxy refused the credentials (407)")
    if not fields[1].startswith("2"):
        raise ProxyRefused(f"the proxy refused the tunnel: {status_line[9:80]}")


async def _socks5(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int,
                  user: str | None, password: str) -> None:
    writer.write(b"\x05\x01\x02" if user is not None else b"\x05\x01\x00")
    await writer.drain()
    version, method = await reader.readexactly(2)
    if version != 5:
        raise ProxyRefused("not a SOCKS5 proxy")
    if method == 0xFF:
        raise ProxyRefused("the proxy accepts none of the offered authentication methods"
                           + ("" if user is not None else " (it wants a user and password)"))
    if method == 2:
        name, secret = (user or "").encode(), password.encode()
        writer.write(bytes([1, len(name)]) + name + bytes([len(secret)]) + secret)
        await writer.drain()
        _, status = await reader.readexactly(2)
        if status != 0:
            raise ProxyRefused("the proxy refused the credentials")
    target = host.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(target)]) + target + port.to_bytes(2, "big"))
    await writer.drain()
    _, reply, _, address_type = await reader.readexactly(4)
    if reply != 0:
        raise ProxyRefused(f"the proxy refused the tunnel: {_SOCKS_REPLIES.get(reply, f'reply {reply}')}")
    length = {1: 4, 4: 16}.get(address_type) or (await reader.readexactly(1))[0]
    await reader.readexactly(length + 2)  # the bound address and port
