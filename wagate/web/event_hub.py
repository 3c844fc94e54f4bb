"""Live events for the dashboard WebSockets: one Redis pub/sub connection per web process, shared by every socket.

A socket joins with the tenant its principal is bound to. A tenant's sockets share one subscription to
`events_channel(tenant)`; install-wide sockets (admins, users without a tenant) share one pattern subscription
covering `global` and every tenant. Subscriptions are counted, so Redis is asked only when the first socket of a
kind joins or the last one leaves. Each socket has a bounded queue: a socket too slow to keep up is told so and
dropped (it reconnects and re-reads the state), rather than holding memory or slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from wagate.queue.names import events_channel

log = structlog.get_logger("wagate.web.events")

ALL_TENANTS = events_channel(None).rsplit(":", 1)[0] + ":*"  # wagate:events:* — global and every tenant
QUEUE_SIZE = 512  # a burst of a broadcast's receipts fits; a socket this far behind is dropped
READ_TIMEOUT_S = 1.0
RETRY_S = (0.5, 1, 2, 5)


@dataclass(eq=False)
class Listener:
    """One socket's place in the hub: the subscription it holds and the events waiting for it."""

    key: str  # a channel name, or ALL_TENANTS for the pattern
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)


class EventHub:
    """Fan-out of Redis pub/sub events to the listeners of this process."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pubsub: PubSub | None = None
        self._listeners: dict[str, set[Listener]] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    @staticmethod
    def key_for(tenant_id: int | None) -> str:
        return ALL_TENANTS if tenant_id is None else events_channel(tenant_id)

    async def join(self, tenant_id: int | None) -> Listener:
        """Register a listener, subscribing in Redis if it is the first of its kind; raises RedisError if down."""
        listener = Listener(self.key_for(tenant_id))
        async with self._lock:
            if self._closed:
                raise RuntimeError("the event hub is closed")
            members = self._listeners.setdefault(listener.key, set())
            if not members:
                try:
                    await self._subscribe(listener.key)
                except BaseException:
                    self._listeners.pop(listener.key, None)
                    raise
            members.add(listener)
            if self._reader is None:
                self._reader = asyncio.create_task(self._read(), name="event-hub-reader")
        return listener

    async def leave(self, listener: Listener) -> None:
        async with self._lock:
            members = self._listeners.get(listener.key)
            if members is None or listener not in members:
                return
            members.discard(listener)
            if not members:
                del self._listeners[listener.key]
                if self._pubsub is not None and not self._closed:
                    with contextlib.suppress(RedisError, OSError):
                        await self._unsubscribe(listener.key)

    @property
    def listeners(self) -> int:
        return sum(len(members) for members in self._listeners.values())

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        self._listeners.clear()

    async def _subscribe(self, key: str) -> None:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        if key == ALL_TENANTS:
            await self._pubsub.psubscribe(key)
        else:
            await self._pubsub.subscribe(key)

    async def _unsubscribe(self, key: str) -> None:
        assert self._pubsub is not None
        if key == ALL_TENANTS:
            await self._pubsub.punsubscribe(key)
        else:
            await self._pubsub.unsubscribe(key)

    async def _read(self) -> None:
        """Read until closed; Redis errors are waited out (redis-py resubscribes when it reconnects)."""
        failures = 0
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=READ_TIMEOUT_S)
            except (RedisError, OSError) as exc:
                delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
                failures += 1
                if failures == 1 or failures % 30 == 0:
                    log.warning("event hub: redis unavailable", error=type(exc).__name__, retry_in_s=delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if message is None:
                continue
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "pmessage":
            key = ALL_TENANTS
        elif message.get("type") == "message":
            channel = message["channel"]
            key = channel.decode() if isinstance(channel, bytes) else str(channel)
        else:
            return
        members = self._listeners.get(key)
        if not members:
            return
        try:
            event = json.loads(message["data"])
        except (ValueError, TypeError):
            log.warning("event hub: unreadable event dropped", channel=key)
            return
        if not isinstance(event, dict):
            return
        for listener in list(members):
            try:
                listener.queue.put_nowait(event)
            except asyncio.QueueFull:
                listener.overflowed.set()
