"""The broker clients of an export: publish a batch in order and return once the broker confirmed it.

NATS: JetStream publishes carry `Nats-Msg-Id` = the event id, so the stream's duplicate window drops a second
copy server-side. RabbitMQ: persistent messages with `message_id` = the event id on a durable topic exchange,
on a channel with publisher confirms; RabbitMQ has no server-side dedupe, so consumers drop repeats by it.

A batch is sent pipelined (every message written before the first confirmation is awaited), in stream order on
one connection. `publish` reports how many leading messages the broker confirmed, so the caller acknowledges
exactly those and sends the rest again. A client never reconnects by itself: after a failure the caller closes
it and opens a new one, so no copy buffered in a dead connection is flushed behind newer messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiormq
import nats
import nats.errors
import nats.js.errors
import structlog
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from wagate.db.enums import BrokerKind
from wagate.services.exports.subjects import Outgoing

log = structlog.get_logger("wagate.exports")

CONNECT_TIMEOUT_S = 5.0
CONFIRM_TIMEOUT_S = 10.0
# How long JetStream remembers a message id: a batch sent again after a broker restart within this window adds no
# second copy. Only used when the export creates its stream; an existing stream keeps its own setting.
NATS_DUPLICATE_WINDOW_S = 600


SCHEMES = {BrokerKind.NATS: ("nats", "tls"), BrokerKind.RABBITMQ: ("amqp", "amqps")}


def url_problem(kind: BrokerKind, url: str) -> str | None:
    """Why `url` cannot reach a broker of `kind`, or None."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES[kind]:
        return f"expects a {' or '.join(s + '://' for s in SCHEMES[kind])} URL for {kind.value}"
    if not parts.hostname:
        return "expects a host"
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return "expects a port from 1 to 65535"
    return None


class BrokerUnavailable(Exception):
    """The broker could not be reached or refused; the message never holds the URL's password."""


def shown_url(url: str) -> str:
    """The URL without its password (user name kept), for listings, audits and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _scrubbed(exc: BaseException, url: str) -> str:
    text = f"{type(exc).__name__}: {exc}"[:300]
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


class Publisher(Protocol):
    async def open(self) -> None: ...

    async def publish(self, batch: Sequence[Outgoing]) -> int: ...

    async def close(self) -> None: ...


def _confirmed_prefix(results: Sequence[Any]) -> tuple[int, BaseException | None]:
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            return index, result
    return len(results), None


class NatsPublisher:
    """JetStream: the export's stream (created on first use over `<prefix>.>` if missing) gets every message."""

    def __init__(self, url: str, stream: str, prefix: str) -> None:
        self.url, self.stream, self.prefix = url, stream, prefix
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None

    async def open(self) -> None:
        async def quiet(exc: Exception) -> None:  # the failure reaches the caller; no second report on stderr
            log.debug("nats client error", error=_scrubbed(exc, self.url))

        try:
            self._nc = await nats.connect(self.url, allow_reconnect=False, connect_timeout=int(CONNECT_TIMEOUT_S),
                                          max_reconnect_attempts=0, error_cb=quiet, name="wagate-export")
            self._js = self._nc.jetstream(timeout=CONFIRM_TIMEOUT_S)
            try:
                await self._js.stream_info(self.stream)  # also opens the client's request inbox before a batch
            except nats.js.errors.NotFoundError:
                await self._js.add_stream(name=self.stream, subjects=[f"{self.prefix}.>"],
                                          duplicate_window=NATS_DUPLICATE_WINDOW_S)
        except Exception as exc:
            await self.close()
            raise BrokerUnavailable(_scrubbed(exc, self.url)) from None

    async def publish(self, batch: Sequence[Outgoing]) -> int:
        js = self._js
        if js is None:
            raise BrokerUnavailable("not connected")
        # Written one after the other, in order, then confirmed together: JetStream acknowledges each on its own.
        confirmations: list[asyncio.Future[Any]] = []
        failure: BaseException | None = None
        try:
            for m in batch:
                confirmations.append(await js.publish_async(
                    m.subject, m.body, headers={"Nats-Msg-Id": m.event_id, "WAGate-Event": m.event}))
        except Exception as exc:  # the connection dropped while writing: the rest is sent again later
            failure = exc
        if confirmations:
            await asyncio.wait(confirmations, timeout=CONFIRM_TIMEOUT_S)
        results: list[Any] = []
        for confirmation in confirmations:
            if not confirmation.done():
                confirmation.cancel()
                results.append(TimeoutError("no confirmation in time"))
            else:
                results.append(confirmation.exception() or confirmation.result())
        if failure is not None:
            results.append(failure)
        done, error = _confirmed_prefix(results)
        if error is not None:
            log.warning("nats publish failed", confirmed=done, of=len(batch), error=_scrubbed(error, self.url))
        return done

    async def close(self) -> None:
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            with contextlib.suppress(Exception):
                await nc.close()


class RabbitPublisher:
    """RabbitMQ: a durable topic exchange named by the export (declared if missing), publisher confirms on."""

    def __init__(self, url: str, exchange: str) -> None:
        self.url, self.exchange_name = url, exchange
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def open(self) -> None:
        try:
            # A plain connection (not robust): after a failure the caller opens a new one (see the module doc).
            self._connection = connection = await aio_pika.connect(
                self.url, timeout=CONNECT_TIMEOUT_S, client_properties={"connection_name": "wagate-export"})
            self._channel = await connection.channel(publisher_confirms=True)
            self._exchange = await self._channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC,
                                                                  durable=True)
        except Exception as exc:
            await self.close()
            raise BrokerUnavailable(_scrubbed(exc, self.url)) from None

    async def publish(self, batch: Sequence[Outgoing]) -> int:
        exchange = self._exchange
        if exchange is None:
            raise BrokerUnavailable("not connected")
        # Not mandatory: a routing key no queue is bound to is the consumers' choice, as an unsubscribed subject is.
        results = await asyncio.gather(*(
            exchange.publish(aio_pika.Message(m.body, message_id=m.event_id, type=m.event,
                                              content_type="application/json",
                                              delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                             m.subject, mandatory=False, timeout=CONFIRM_TIMEOUT_S)
            for m in batch), return_exceptions=True)
        done, error = _confirmed_prefix(results)
        if error is None:
            nacked = next((i for i, r in enumerate(results) if not isinstance(r, aiormq.spec.Basic.Ack)), None)
            if nacked is not None:
                done, error = nacked, BrokerUnavailable("the broker did not confirm a message (nack)")
        if error is not None:
            log.warning("rabbitmq publish failed", confirmed=done, of=len(batch), error=_scrubbed(error, self.url))
        return done

    async def close(self) -> None:
        connection, self._connection, self._channel, self._exchange = self._connection, None, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


def publisher(kind: BrokerKind, url: str, target: str, prefix: str) -> Publisher:
    if kind is BrokerKind.NATS:
        return NatsPublisher(url, target, prefix)
    return RabbitPublisher(url, target)
