"""The wake-up channel: the web names a session that has something due, and its sender wakes at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from redis.asyncio import Redis

from wagate.queue.names import wake_channel

log = structlog.get_logger(__name__)


async def listen_for_nudges(redis: Redis, shard: int, wake: Callable[[str], object]) -> None:
    """Call `wake(session_id)` for every nudge on the shard's channel (see `wake_channel`), until cancelled.

    The send job stays the durable path: while Redis is away this loop waits and subscribes again, and
    the jobs enqueued meanwhile wake the senders on the queue's next poll.
    """
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(wake_channel(shard))
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    data = message["data"]
                    wake(data.decode() if isinstance(data, bytes) else str(data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("wake-up channel lost; subscribing again", shard=shard, error=type(exc).__name__)
            await asyncio.sleep(1)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
