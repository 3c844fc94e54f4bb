"""Gateway events: one envelope, published live (pub/sub per tenant) and appended to the durable event stream.

The stream (`EVENT_STREAM`) is what webhook delivery reads with a consumer group: an event written there
survives a restart of every process, whereas pub/sub only reaches the dashboards connected right now.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Collection
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wagate.db.outage import when_reachable
from wagate.queue.names import events_channel

EVENT_STREAM = "wagate:events:stream"
# Once every reader (webhook fan-out, each event export) has acknowledged an entry it is kept only as a short replay
# buffer of this many entries; the worker trims to it, or to what the slowest reader still needs
# (wagate.services.exports.backlog).
EVENT_STREAM_MAXLEN = 100_000
# The stream's hard bound, applied at every append whatever the readers need: Redis memory stays bounded (about
# 1 KB an event) when a reader stops for good. A broker down longer than this many events loses the oldest.
EVENT_STREAM_HARD_MAXLEN = 1_000_000

# How long the events of committed changes are retried while Redis is away (a restart, a failover) before they
# are given up with an error line.
PUBLISH_PATIENCE_S = 120.0

EVENT_NAMES = (
    "message.received", "message.sent", "message.delivered", "message.read", "message.failed", "message.unknown",
    "message.edited", "message.revoked", "message.reaction", "poll.vote", "message.poll_vote", "presence.update",
    "history.synced", "connection.open", "connection.close", "qr.generated", "session.status", "broadcast.completed",
    "chat.updated", "group.joined", "group.left", "group.participants", "group.updated", "call.received", "call.ended",
    "status.received", "session.limited", "session.unlimited",
)
# Old names a subscription may still use, and the event each stands for (never emitted under the old name).
EVENT_ALIASES = {"message.poll_vote": "poll.vote"}


def subscribed(names: Collection[str], event: str) -> bool:
    """Whether a subscription to `names` (event names or their old aliases) takes `event`."""
    return event in names or any(EVENT_ALIASES.get(name) == event for name in names)


def new_event_id() -> str:
    return f"evt_{secrets.token_hex(12)}"


def message_event_id(event: str, session_id: str, message_id: int) -> str:
    """The id of a message's event (sent, delivered, read, failed, received), the same each time it is made.

    Each happens once per message, but may be published twice: a bridge killed between a send's event and its
    `sent` write sends again and publishes again. Fan-out writes one delivery per (webhook, event id), so the
    second copy is no second webhook."""
    digest = hashlib.sha256(f"{event}/{session_id}/{message_id}".encode()).hexdigest()
    return f"evt_{digest[:24]}"


def envelope(event: str, session_id: str | None, data: dict[str, Any], *, timestamp: float | None = None,
             event_id: str | None = None) -> dict[str, Any]:
    """The body every consumer sees: `{"id", "event", "timestamp", "session", "data"}` (timestamp in seconds)."""
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown event {event!r}")
    return {
        "id": event_id or new_event_id(),
        "event": event,
        "timestamp": int(timestamp if timestamp is not None else time.time()),
        "session": session_id,
        "data": data,
    }


def message_envelope(event: str, session_id: str, message_id: int, data: dict[str, Any], *,
                     timestamp: float | None = None) -> dict[str, Any]:
    """A message's event: its `data` after the message's `id`, under the id `message_event_id` gives it."""
    return envelope(event, session_id, {"id": message_id, **data}, timestamp=timestamp,
                    event_id=message_event_id(event, session_id, message_id))


def encode(event: dict[str, Any]) -> str:
    """An event as it goes on the stream and the live channel (and into the events outbox)."""
    return json.dumps(event, separators=(",", ":"), default=str)


async def publish(redis: Redis, tenant_id: int | None, *events: dict[str, Any], live: bool = True) -> None:
    """Send a tenant's events to live listeners (unless `live` is false) and to the durable stream, in one round
    trip."""
    if not events:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            raw = encode(event)
            if live:
                pipe.publish(events_channel(tenant_id), raw)
            pipe.xadd(EVENT_STREAM, {"event": raw, "tenant": "" if tenant_id is None else str(tenant_id)},
                      maxlen=EVENT_STREAM_HARD_MAXLEN, approximate=True)
        await pipe.execute()


async def publish_durably(redis: Redis, tenant_id: int | None, *events: dict[str, Any], log: Any, what: str,
                          live: bool = True, patience_s: float = PUBLISH_PATIENCE_S, **fields: Any) -> bool:
    """Publish the events of changes written (or about to be); while Redis is away, wait for it rather than lose them.

    Webhooks are made from these events and nothing else would make them again: an event dropped here would be a
    webhook never delivered. A try whose answer was lost may have reached the stream; its retry carries the same
    event ids, which webhook fan-out writes once. Returns False, after an error line naming the event ids, if
    Redis stayed away for `patience_s`.
    """
    try:
        await when_reachable(lambda: publish(redis, tenant_id, *events, live=live), patience_s=patience_s, log=log,
                             what=f"{what} not published yet", retry_on=(RedisError, OSError), **fields)
    except (RedisError, OSError) as exc:
        log.error(f"{what} not published", event_ids=[e["id"] for e in events],
                  error=f"{type(exc).__name__}: {exc}"[:300], **fields)
        return False
    return True
