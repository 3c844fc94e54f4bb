"""Consume WA-Gate events from NATS JetStream: a durable pull consumer, each event handled once by its id.

Run: python nats_consumer.py nats://127.0.0.1:4222 WAGATE 'wagate.>'
"""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.errors

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


async def consume(url: str, stream: str, subjects: str, durable: str, handle: Handler) -> None:
    """Hand every event of `subjects` to `handle(subject, event)` in stream order, until cancelled."""
    nc = await nats.connect(url, max_reconnect_attempts=-1)  # reconnects through a server restart
    try:
        js = nc.jetstream()
        inbox = await js.pull_subscribe(subjects, durable=durable, stream=stream)
        seen: set[str] = set()  # delivery is at least once: keep the ids you handled (a real app: in its database)
        while True:
            try:
                messages = await inbox.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                continue  # nothing new yet
            except nats.errors.Error:
                await asyncio.sleep(0.5)  # the server is restarting (closed, no responders, 503): try again
                continue
            for message in messages:
                event = json.loads(message.data)
                if event["id"] not in seen:
                    seen.add(event["id"])
                    await handle(message.subject, event)
                await message.ack()
    finally:
        await nc.close()


async def show(subject: str, event: dict[str, Any]) -> None:
    print(subject, event["event"], event["session"], event["data"])


if __name__ == "__main__":
    asyncio.run(consume(sys.argv[1], sys.argv[2], sys.argv[3], "my-app", show))
