"""Consume WA-Gate events from RabbitMQ: a durable queue bound to the export's topic exchange, each event handled
once by its id.

Run: python rabbitmq_consumer.py amqp://guest:guest@127.0.0.1/ wagate 'wagate.#'
"""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


async def consume(url: str, exchange: str, binding: str, queue: str, handle: Handler,
                  ready: asyncio.Event | None = None) -> None:
    """Hand every event routed by `binding` to `handle(routing_key, event)` in order, until cancelled."""
    seen: set[str] = set()  # delivery is at least once: keep the ids you handled (a real app: in its database)
    while True:
        try:
            connection = await aio_pika.connect(url)
        except (aio_pika.exceptions.AMQPConnectionError, OSError):
            await asyncio.sleep(1)  # the broker is restarting
            continue
        try:
            async with connection:
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=100)
                events = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
                mine = await channel.declare_queue(queue, durable=True)  # keeps events while this consumer is away
                await mine.bind(events, routing_key=binding)
                if ready is not None:
                    ready.set()
                async with mine.iterator() as messages:
                    async for message in messages:
                        if message.message_id not in seen:
                            seen.add(str(message.message_id))
                            await handle(message.routing_key or "", json.loads(message.body))
                        await message.ack()
        except (aio_pika.exceptions.AMQPError, OSError):
            await asyncio.sleep(1)  # the connection dropped: unacknowledged events come again, and are skipped


async def show(routing_key: str, event: dict[str, Any]) -> None:
    print(routing_key, event["event"], event["session"], event["data"])


if __name__ == "__main__":
    asyncio.run(consume(sys.argv[1], sys.argv[2], sys.argv[3], "my-app", show))
