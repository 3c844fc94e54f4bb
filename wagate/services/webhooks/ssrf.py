"""The SSRF guard of webhook URLs: which destinations the gateway refuses to POST to, checked twice.

On create/update every address the host resolves to is checked. At delivery `GuardedResolver` is the
connector's resolver: it resolves, refuses the whole host if any answer is refused, and hands aiohttp only the
checked addresses, so the connection goes to an address that passed (a DNS answer that changes between a check
and the connect has nothing to slip through). aiohttp skips resolvers for IP literals, so `check_url` refuses
those statically before any request.

Always refused: schemes other than http/https, link-local (169.254.0.0/16, fe80::/10), cloud metadata
(169.254.169.254, fd00:ec2::254, metadata.google.internal), multicast, unspecified, reserved. Refused unless
WEBHOOK_ALLOW_PRIVATE: loopback and every other non-global range (10/8, 172.16/12, 192.168/16, fc00::/7, …).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from wagate.errors import Invalid
from wagate.logging import security_log

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")
# The refusals a setting lifts, and the words that say so: a receiver on the same machine is the usual first test.
_ALLOWED_BY_SETTING = ("loopback address", "private address")
_SETTING_HINT = "; set WEBHOOK_ALLOW_PRIVATE=true to allow receivers on this machine or a private network"


class DestinationRefused(OSError):
    """A webhook URL or one of its addresses is not a destination the gateway may call; `reason` says which."""

    def __init__(self, reason: str, host: str = "") -> None:
        if reason.startswith(_ALLOWED_BY_SETTING):
            reason += _SETTING_HINT
        self.reason = reason
        self.host = host
        super().__init__(f"{host or 'destination'} refused: {reason}")


def refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why an address is refused, or None when the gateway may connect to it."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_link_local or (isinstance(ip, ipaddress.IPv6Address) and ip in _LINK_LOCAL_V6):
        return "link-local address"
    if ip.is_multicast:
        return "multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast address"
    if ip.is_reserved:
        return "reserved address"
    if not ip.is_global and not allow_private:
        # Loopback counts as private: WEBHOOK_ALLOW_PRIVATE is how a same-machine receiver (and a test) is allowed.
        return "loopback address" if ip.is_loopback else "private address"
    return None


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or DestinationRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused("not a valid URL") from exc
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("only http and https URLs are allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise DestinationRefused("the URL has no host")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def check_url(url: str, *, allow_private: bool) -> tuple[str, int, IPAddress | None]:
    """The checks that need no DNS: scheme, host names, IP literals. Returns (host, port, the literal or None)."""
    _, host, port = split_url(url)
    if host in METADATA_HOSTS:
        raise DestinationRefused("cloud metadata host", host)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and (reason := refusal(literal, allow_private=allow_private)):
        raise DestinationRefused(reason, host)
    return host, port, literal


def _checked(host: str, answers: list[ResolveResult], allow_private: bool) -> list[ResolveResult]:
    if not answers:
        raise DestinationRefused("the host has no address", host)
    for answer in answers:
        if reason := refusal(ipaddress.ip_address(answer["host"].split("%", 1)[0]), allow_private=allow_private):
            raise DestinationRefused(f"{reason} {answer['host']}", host)
    return answers


async def check_destination(url: str, *, allow_private: bool, resolver: AbstractResolver | None = None) -> None:
    """Everything a webhook URL must pass when it is saved: the static checks, then each address it resolves to."""
    host, port, literal = check_url(url, allow_private=allow_private)
    if literal is not None:
        return
    own = resolver is None
    resolver = resolver or ThreadedResolver()
    try:
        answers = await resolver.resolve(host, port, family=socket.AF_UNSPEC)
    except OSError as exc:
        raise DestinationRefused("the host does not resolve", host) from exc
    finally:
        if own:
            await resolver.close()
    _checked(host, answers, allow_private)


async def check_saved_url(url: str, *, allow_private: bool, field: str = "url", ip: str | None = None,
                          resolver: AbstractResolver | None = None) -> None:
    """The save-time check of every path that stores a webhook URL (webhooks, a session's settings): 400 naming
    the reason, and a security.log line, as a refused URL is someone trying to make the gateway call inside."""
    try:
        await check_destination(url, allow_private=allow_private, resolver=resolver)
    except DestinationRefused as exc:
        security_log().warning("webhook URL refused", field=field, host=exc.host, reason=exc.reason, ip=ip)
        raise Invalid("Webhook URL refused", {field: [exc.reason]}) from exc


class GuardedResolver(AbstractResolver):
    """The delivery connector's resolver: only checked addresses reach aiohttp, so the connection is pinned."""

    def __init__(self, *, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self.inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        if name in METADATA_HOSTS:
            raise DestinationRefused("cloud metadata host", name)
        return _checked(name, await self.inner.resolve(host, port, family), self.allow_private)

    async def close(self) -> None:
        await self.inner.close()
