"""Every Redis client of the gateway, made from REDIS_URL here: one server, or the primary that Sentinels name.

REDIS_URL takes one of these forms (`parse` checks it; config validation calls it, so a bad URL stops start-up):

- `redis://[[user]:password@]host[:port][/db]` or `unix:///path/to/socket[?db=N]`: one server.
- `rediss://…`: one server over TLS. Its certificate must be signed by one of the system's CAs or by
  `?ssl_ca_certs=/path/ca.pem`, and name the URL's host (`ssl_check_hostname=false` skips the name, never the
  signature); `ssl_certfile` and `ssl_keyfile` give a client certificate.
- `redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/<primary name>[/db]`: the Sentinels (port
  26379 unless given) are asked where the primary is, and asked again when it moves. The user and password are
  the data nodes'; `?sentinel_username=…&sentinel_password=…` for Sentinels that want their own.

Why one module: the web's client, the rate limiter's pool, the arq queue client of the worker and the bridges,
and the pub/sub listeners on them must all find the same server the same way (and follow a failover together).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from arq.connections import ArqRedis
from arq.constants import default_queue_name
from redis.asyncio import ConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379
# Sentinel queries are small and never block: a Sentinel that takes longer is treated as down and the next is asked.
SENTINEL_TIMEOUT_S = 2.0
TLS_PARAMETERS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname", "ssl_cert_reqs")
SENTINEL_PARAMETERS = ("sentinel_username", "sentinel_password")
FORMS = ("redis://host:port/db, rediss://… (TLS), unix:///path/to/socket "
         "or redis+sentinel://host:26379[,host:26379…]/<primary name>[/db]")


@dataclass(frozen=True)
class RedisTarget:
    """Where REDIS_URL points: a URL redis-py opens itself, or Sentinels and the name of the primary they watch."""

    url: str | None = field(default=None, repr=False)  # one server: the URL without the parameters taken out below
    sentinels: tuple[tuple[str, int], ...] = ()
    primary: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_auth: dict[str, str] = field(default_factory=dict, repr=False)
    tls: dict[str, Any] = field(default_factory=dict)  # redis-py's ssl_* connection arguments (rediss:// only)


def parse(url: str) -> RedisTarget:
    """Check REDIS_URL and say where it points; ValueError says what is wrong (never with the password)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"is not a URL ({exc}); expects {FORMS}") from None
    scheme = parts.scheme.lower()
    if scheme in ("rediss+sentinel", "sentinel", "valkey+sentinel"):
        raise ValueError("takes Sentinels as redis+sentinel://… only (Sentinels over TLS are not supported)")
    if scheme not in ("redis", "rediss", "unix", SENTINEL_SCHEME):
        raise ValueError(f"expects {FORMS}")
    query = _query(parts.query)
    allowed = {"redis": ("db",), "rediss": ("db", *TLS_PARAMETERS), "unix": ("db",),
               SENTINEL_SCHEME: SENTINEL_PARAMETERS}[scheme]
    for name in query:
        if name not in allowed:
            if name in TLS_PARAMETERS:
                raise ValueError(f"has {name}, which applies to rediss:// (TLS) URLs only")
            raise ValueError(f"has an unknown parameter {name!r}; {scheme}:// takes {', '.join(allowed) or 'none'}")
    if scheme == SENTINEL_SCHEME:
        return _sentinel_target(parts.netloc, parts.path, query)
    if "db" in query:
        _db(query["db"])
    if scheme == "unix" and not parts.path:
        raise ValueError("unix:// needs the socket's path: unix:///run/valkey/valkey.sock")
    if scheme != "unix" and parts.path.strip("/"):
        _db(parts.path.strip("/"))
    try:
        parts.port  # noqa: B018 - urllib checks the port only when asked
    except ValueError:
        raise ValueError(f"has a bad port; expects {FORMS}") from None
    if scheme != "rediss":
        return RedisTarget(url=url)
    rest = urlencode({name: value for name, value in query.items() if name not in TLS_PARAMETERS})
    return RedisTarget(url=urlunsplit(parts._replace(query=rest)), tls=_tls(query))


def connection_pool(url: str, **options: Any) -> ConnectionPool:
    """A pool for REDIS_URL; `options` are redis-py connection arguments (timeouts, health checks, retries).

    Nothing connects until the first command, so a process starts (and reports Redis as down) without Redis.
    """
    target = parse(url)
    if not target.sentinels:
        return ConnectionPool.from_url(target.url or "redis://", **target.tls, **options)
    timeout = options.get("socket_connect_timeout") or SENTINEL_TIMEOUT_S
    sentinels = Sentinel(
        list(target.sentinels),
        sentinel_kwargs={"socket_connect_timeout": timeout, "socket_timeout": timeout, **target.sentinel_auth},
    )
    return _SentinelPool(target.primary, sentinels, db=target.db, username=target.username,
                         password=target.password, **options)


def queue_client(url: str, *, default_queue_name: str = default_queue_name, **options: Any) -> ArqRedis:
    """An arq-capable client (redis-py's, plus `enqueue_job`) on its own `connection_pool(url, **options)`.

    Close it with `aclose(close_connection_pool=True)`: the pool, and the Sentinel connections, are its own.
    """
    return ArqRedis(connection_pool=connection_pool(url, **options), default_queue_name=default_queue_name)


class _SentinelPool(SentinelConnectionPool):
    """redis-py's Sentinel-backed pool, which when closed also closes its connections to the Sentinels.

    redis-py leaves those open (arq's own Sentinel support too): every process restart would leak one per Sentinel.
    """

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # closing; the partial disconnect after a failover keeps the Sentinels
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.aclose()


def _query(text: str) -> dict[str, str]:
    pairs = parse_qsl(text, keep_blank_values=True)
    query: dict[str, str] = {}
    for name, value in pairs:
        if name in query:
            raise ValueError(f"has the parameter {name!r} twice")
        query[name] = value
    return query


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"has a bad database number {text!r}; expects a whole number from 0, such as /0")
    return int(text)


def _flag(name: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ValueError(f"has {name}={value!r}; expects true or false")
    return value.lower() == "true"


def _tls(query: dict[str, str]) -> dict[str, Any]:
    """redis-py's TLS arguments from the URL's parameters; the files must exist and load."""
    tls: dict[str, Any] = {"ssl_cert_reqs": "required", "ssl_check_hostname": True}
    if "ssl_cert_reqs" in query and query["ssl_cert_reqs"] != "required":
        raise ValueError("has ssl_cert_reqs other than required; the server's certificate is always checked")
    if "ssl_check_hostname" in query:
        tls["ssl_check_hostname"] = _flag("ssl_check_hostname", query["ssl_check_hostname"])
    for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
        if name in query:
            if not Path(query[name]).is_file():
                raise ValueError(f"has {name}={query[name]}, but there is no such file")
            tls[name] = query[name]
    if ("ssl_certfile" in tls) != ("ssl_keyfile" in tls):  # redis-py loads a client certificate only with its key
        raise ValueError("has one of ssl_certfile and ssl_keyfile; a client certificate needs both")
    try:
        context = ssl.create_default_context(cafile=tls.get("ssl_ca_certs"))
        if "ssl_certfile" in tls:
            context.load_cert_chain(tls["ssl_certfile"], tls["ssl_keyfile"])
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"has TLS files that do not load as PEM certificates and key: {exc}") from None
    return tls


def _sentinel_target(netloc: str, path: str, query: dict[str, str]) -> RedisTarget:
    userinfo, _, hosts = netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinels = []
    for location in hosts.split(","):
        if not location.strip():
            continue
        try:
            node = urlsplit(f"//{location.strip()}")
            host, port = node.hostname, node.port or SENTINEL_PORT
        except ValueError:
            host = None
        if not host:
            raise ValueError(f"has a bad Sentinel address {location.strip()!r}; expects host:port")
        sentinels.append((host, port))
    if not sentinels:
        raise ValueError("names no Sentinel; expects redis+sentinel://host:26379[,host:26379…]/<primary name>[/db]")
    segments = [unquote(part) for part in path.split("/") if part]
    if not segments or len(segments) > 2:
        raise ValueError("needs the primary's name (Sentinel's monitor name) and maybe a database: "
                         "redis+sentinel://host:26379/mymaster/0")
    auth = {name.removeprefix("sentinel_"): value for name, value in query.items() if value}
    return RedisTarget(
        sentinels=tuple(sentinels), primary=segments[0], db=_db(segments[1]) if len(segments) == 2 else 0,
        username=unquote(username) or None, password=unquote(password) or None, sentinel_auth=auth,
    )
