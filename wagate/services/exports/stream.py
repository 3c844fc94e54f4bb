"""One export's reader: its own consumer group on the event stream, publish in stream order, acknowledge what was
confirmed.

Each export has its group (`wagate:export:<id>`), so a broker that is down holds back only its own export: its
events stay in the stream (see `backlog` for trimming) and in its group's lag, and webhooks and other brokers go
on. One reader per export at a time (a Redis lease, see `runner`) keeps the order of the stream, so the events
of a session reach the broker in the order they happened. Each round takes the group's pending entries first
(those a failed batch or a dead reader left, oldest first), else new ones; publishes the matching ones in one
pipelined batch; acknowledges every entry up to the first message the broker did not confirm; and on a failure
raises, so the rest is sent again, under the same event ids, once the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from wagate.db.enums import BrokerKind
from wagate.services.events import EVENT_STREAM
from wagate.services.exports import backlog
from wagate.services.exports.brokers import BrokerUnavailable, Publisher
from wagate.services.exports.subjects import Outgoing, subject
from wagate.services.webhooks.fanout import StreamEvent, matches, parse_entries

log = structlog.get_logger("wagate.exports")

BATCH = 500
BLOCK_MS = 500  # also how long a stopping reader may take to notice
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0

PUBLISHED = Counter("wagate_broker_published_total", "Events a broker confirmed, by broker kind", ("kind",))
FAILURES = Counter("wagate_broker_failures_total", "Failed connections or batches to a broker, by kind", ("kind",))


@dataclass(frozen=True, slots=True)
class ExportTarget:
    """What a reader needs of an export row (its URL decrypted); `version` changes with every edit of the row."""

    id: int
    kind: BrokerKind
    url: str
    target: str
    prefix: str
    events: list[str] | str
    tenant_id: int | None
    session_id: str | None
    version: str


async def ensure_group(redis: Redis, export_id: int, start: str = "$") -> None:
    """Create the export's group if missing: from now (`$`) for a new export, so it does not replay history."""
    try:
        await redis.xgroup_create(EVENT_STREAM, backlog.group_name(export_id), id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def next_entries(redis: Redis, group: str, consumer: str, *, block_ms: int = BLOCK_MS,
                       pending: bool = True) -> list[Any]:
    """The group's pending entries, oldest first (unless `pending` is false: none can be), else new ones (waiting
    up to `block_ms`)."""
    if pending:
        # Whoever took them, pending entries are this reader's now: the lease makes it the group's only reader.
        claimed = await redis.xautoclaim(EVENT_STREAM, group, consumer, 0, start_id="0-0", count=BATCH)
        if left := [e for e in claimed[1] if e[1] is not None]:
            return left
    answer = await redis.xreadgroup(group, consumer, {EVENT_STREAM: ">"}, count=BATCH, block=block_ms)
    return answer[0][1] if answer else []


def outgoing(export: ExportTarget, event: StreamEvent) -> Outgoing | None:
    """The broker message of an event, or None when the export's scope or filter leaves it out."""
    if not matches(export, event):
        return None
    return Outgoing(subject(export.prefix, event.tenant, event.session, event.event), event.raw.encode(),
                    event.event_id, event.event)


async def process(redis: Redis, export: ExportTarget, publisher: Publisher, entries: Sequence[Any]) -> int:
    """Publish a batch's matching events and acknowledge the entries the broker has; returns the events published.

    Raises BrokerUnavailable when the broker confirmed only part of them (the rest stays pending)."""
    events, bad = parse_entries(entries)
    if bad:
        log.warning("unreadable event stream entries skipped", export_id=export.id, entries=bad[:10])
    plan = [(e.entry_id, outgoing(export, e)) for e in events]
    messages = [m for _, m in plan if m is not None]
    confirmed = await publisher.publish(messages) if messages else 0
    PUBLISHED.labels(export.kind.value).inc(confirmed)
    done, ids = 0, list(bad)
    for entry_id, message in plan:
        if message is not None:
            if done == confirmed:
                break
            done += 1
        ids.append(entry_id)
    if ids:
        await redis.xack(EVENT_STREAM, backlog.group_name(export.id), *ids)
    if confirmed < len(messages):
        raise BrokerUnavailable(f"{len(messages) - confirmed} of {len(messages)} events not confirmed")
    return confirmed


async def run(redis: Redis, export: ExportTarget, publisher: Publisher, consumer: str, stop: asyncio.Event) -> None:
    """Export until `stop` is set: connect, read, publish, acknowledge; a broker down is retried with backoff."""
    group = backlog.group_name(export.id)
    # Pending entries can exist when the reader starts (a predecessor's) and after a failed batch; a batch that
    # went through leaves none, which saves a round trip per batch.
    connected, pause, pending = False, RETRY_FIRST_S, True
    await ensure_group(redis, export.id)
    while not stop.is_set():
        try:
            if not connected:
                await publisher.open()
                connected = True
                await backlog.mark(redis, export.id, up=True)
                log.info("export connected", export_id=export.id, kind=export.kind.value)
            entries = await next_entries(redis, group, consumer, pending=pending)
            pending = True
            if entries:
                await process(redis, export, publisher, entries)
            pending, pause = False, RETRY_FIRST_S
        except BrokerUnavailable as exc:
            FAILURES.labels(export.kind.value).inc()
            await publisher.close()
            connected = False
            await backlog.mark(redis, export.id, up=False, error=str(exc))
            log.warning("export paused: broker unavailable", export_id=export.id, kind=export.kind.value,
                        error=str(exc), retry_in_s=pause)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await stop.wait()
            pause = min(pause * 2, RETRY_MAX_S)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await ensure_group(redis, export.id)  # Redis lost its data (a flush): start again from now
    await publisher.close()
