"""A per-process cache of API key lookups, so a burst of calls with one key costs one query, kept true on every
web process through a Redis channel.

Every authenticated API call looks its key up; the row rarely changes, and a lookup is a database round trip
plus the ORM's work (about a fifth of a send's cost). What a key may do changes when the key is revoked or
rotated, when its tenant's subscription changes, and when its owner is deactivated, demoted, moved or deleted.
Whoever makes such a change calls `announce` after its commit: this process forgets every entry at once, and every
other web process forgets its own when the message on `CHANNEL` reaches it (`listen`), a few milliseconds later.

A process that is not subscribed (starting, or Redis away) caches nothing, so it cannot miss a change; a lookup
started before a change is not cached after it (the generation check). Entries still expire after `TTL_S`: the
bound for a change whose announcement Redis refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from redis.exceptions import RedisError

CHANNEL = "wagate:key_cache:changed"
TTL_S = 5.0
MAX_ENTRIES = 10_000
RETRY_S = (0.5, 1, 2, 5)  # between attempts to subscribe again after Redis went away
READ_TIMEOUT_S = 1.0

log = structlog.get_logger("wagate.key_cache")

_entries: dict[str, tuple[float, Any]] = {}
_state = {"generation": 0, "listeners": 0}  # listeners: subscribed `listen` loops of this process


def generation() -> int:
    """Take before a lookup, give to `put` after it: a change announced in between keeps its row out."""
    return _state["generation"]


def get(key_hash: str) -> Any | None:
    if not _state["listeners"]:
        return None
    entry = _entries.get(key_hash)
    if entry is None:
        return None
    if entry[0] <= time.monotonic():
        _entries.pop(key_hash, None)
        return None
    return entry[1]


def put(key_hash: str, row: Any, looked_up_at: int) -> None:
    if not _state["listeners"] or looked_up_at != _state["generation"]:
        return
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()  # a flood of distinct keys: start over rather than grow without bound
    _entries[key_hash] = (time.monotonic() + TTL_S, row)


def forget() -> None:
    """Drop every entry of this process."""
    _entries.clear()
    _state["generation"] += 1


async def announce(redis: Any | None) -> None:
    """A key, its owner or its tenant changed (and is committed): forget here, and tell every other process.
    `redis` None tells nobody else: for rows arranged before any web process runs (tests, set-up)."""
    forget()
    if redis is None:
        return
    try:
        await redis.publish(CHANNEL, "1")
    except (RedisError, OSError) as exc:
        # The others keep their entries for at most TTL_S; their own loss of Redis empties them sooner.
        log.warning("key cache change not announced", error=repr(exc), ttl_s=TTL_S)


async def listen(redis: Any, stop: asyncio.Event) -> None:
    """Forget on every announcement until `stop` is set (a web process's lifetime); subscribe again after Redis
    errors, caching nothing in between. The flag ends the loop even when a cancellation lands just as a read
    times out (redis-py then swallows it)."""
    failures = 0
    while not stop.is_set():
        pubsub = redis.pubsub()
        subscribed = False
        delay = RETRY_S[0]
        try:
            await pubsub.subscribe(CHANNEL)
            while not stop.is_set():
                message = await pubsub.get_message(timeout=READ_TIMEOUT_S)
                if message is None:
                    continue
                if message["type"] == "subscribe" and not subscribed:
                    forget()  # what was announced while nobody listened
                    subscribed = True
                    _state["listeners"] += 1
                    failures = 0
                elif message["type"] == "message":
                    forget()
        except (RedisError, OSError) as exc:
            delay = RETRY_S[min(failures, len(RETRY_S) - 1)]
            failures += 1
            if failures == 1 or failures % 30 == 0:
                log.warning("key cache: redis unavailable, caching nothing", error=type(exc).__name__,
                            retry_in_s=delay)
        finally:
            if subscribed:
                _state["listeners"] -= 1
                forget()
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        if not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
