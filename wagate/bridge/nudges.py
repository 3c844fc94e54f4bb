"""The shard's channels: the web names a session that has something due, and its sender wakes at once; a
bridge that released sessions (a drain, a rebalance) says so, and the others claim them at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog
from redis.asyncio import Redis

from wagate.queue.names import released_channel, wake_channel

log = structlog.get_logger(__name__)


async def say_released(redis: Redis, shard: int) -> None:
    """Tell the shard's other bridges that sessions were released (a lost message costs one claim period)."""
    try:
        await redis.publish(released_channel(shard), "1")
    except Exception as exc:
        log.info("could not announce released sessions", shard=shard, error=type(exc).__name__)


async def listen_for_nudges(redis: Redis, shard: int, wake: Callable[[str], object],
                            released: Callable[[], object]) -> None:
    """Call `wake(session_id)` for every nudge on the shard's channel (see `wake_channel`), and `released()` when
    another bridge of the shard released sessions, until cancelled.

    The send job stays the durable path: while Redis is away this loop waits and subscribes again, and
    the jobs enqueued meanwhile wake the senders on the queue's next poll.
    """
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(wake_channel(shard), released_channel(shard))
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                channel = message["channel"]
                if (channel.decode() if isinstance(channel, bytes) else channel) == released_channel(shard):
                    released()
                else:
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
