"""The exports' backlog on the event stream: their groups, how far behind each is, whether its broker is up, and
trimming that never drops an event a group has not acknowledged.

Trimming: `events.publish` caps the stream at EVENT_STREAM_HARD_MAXLEN (a bound on Redis memory whatever
happens); below that, `trim` keeps the last EVENT_STREAM_MAXLEN entries (the replay buffer) or, when a group is
further behind (an export whose broker is down, a worker stopped), everything that group has yet to acknowledge.
A broker down for an hour loses nothing while the events of that hour stay below the hard cap.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from wagate.services.events import EVENT_STREAM, EVENT_STREAM_MAXLEN

GROUP_PREFIX = "wagate:export:"
STATUS_KEY = "wagate:exports:status"  # hash: export id → {"up", "since", "error"} written by the export's reader
TRIM_MARGIN = 1000  # entries kept past the slowest group's need, as `~` trimming works in whole nodes anyway


def group_name(export_id: int) -> str:
    return f"{GROUP_PREFIX}{export_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


@dataclass(frozen=True, slots=True)
class GroupBacklog:
    name: str
    waiting: int | None  # entries not yet acknowledged: pending + not yet read (None: Redis cannot tell)
    oldest_ms: int | None  # stream time of the oldest entry not acknowledged (None: nothing waits)


async def groups(redis: Redis) -> list[GroupBacklog]:
    """Every group of the event stream (webhooks' and exports') with what it has yet to acknowledge."""
    try:
        infos = await redis.xinfo_groups(EVENT_STREAM)
    except Exception as exc:
        if "no such key" in str(exc).lower():
            return []
        raise
    found = []
    for info in infos:
        name, pending, lag = _text(info["name"]), int(info["pending"]), info.get("lag")
        waiting = None if lag is None else pending + int(lag)
        oldest: int | None = None
        # The reader may acknowledge between the two reads: no oldest pending then, and the next entry is it.
        if pending and (first := (await redis.xpending(EVENT_STREAM, name))["min"]) is not None:
            oldest = _entry_ms(_text(first))
        elif waiting:
            after = await redis.xrange(EVENT_STREAM, min=f"({_text(info['last-delivered-id'])}", count=1)
            oldest = _entry_ms(_text(after[0][0])) if after else None
        found.append(GroupBacklog(name, waiting, oldest))
    return found


async def trim(redis: Redis) -> int | None:
    """Trim the stream to the replay buffer or to what the slowest group needs; returns the length kept (None: not
    trimmed, as some group's need is unknown)."""
    needs = [g.waiting for g in await groups(redis)]
    if any(n is None for n in needs):
        return None
    keep = max([EVENT_STREAM_MAXLEN, *((n or 0) + TRIM_MARGIN for n in needs)])
    await redis.xtrim(EVENT_STREAM, maxlen=keep, approximate=True)
    return keep


async def mark(redis: Redis, export_id: int, *, up: bool, error: str | None = None) -> None:
    """Record whether the export's broker takes events; `since` stays the time of the first of a run of failures."""
    raw = await redis.hget(STATUS_KEY, str(export_id))  # type: ignore[misc]
    before = json.loads(raw) if raw else None
    if before is not None and before["up"] == up and (up or before.get("error") == error):
        return
    since = before["since"] if before is not None and before["up"] == up else time.time()
    await redis.hset(STATUS_KEY, str(export_id), json.dumps({"up": up, "since": since, "error": error}))  # type: ignore[misc]


async def statuses(redis: Redis) -> dict[int, dict[str, Any]]:
    found = await redis.hgetall(STATUS_KEY)  # type: ignore[misc]
    return {int(_text(k)): json.loads(v) for k, v in found.items()}


async def forget(redis: Redis, keep: Iterable[int], newest_id: int) -> list[int]:
    """Drop the groups and statuses of exports no longer active (deleted, switched off): a group nobody reads would
    hold the stream's trimming back for ever. Returns the export ids forgotten.

    Ids past `newest_id` (the newest export when `keep` was read) are left alone: an export created since has
    its group already, and dropping it would lose its first events."""
    kept = {str(i) for i in keep}
    gone = {name[len(GROUP_PREFIX):] for name in (g.name for g in await groups(redis))
            if name.startswith(GROUP_PREFIX)} - kept
    reported = await redis.hkeys(STATUS_KEY)  # type: ignore[misc]
    gone |= {_text(k) for k in reported} - kept
    gone = {i for i in gone if not i.isdigit() or int(i) <= newest_id}
    for export_id in gone:
        await forget_one(redis, export_id)
    return sorted(int(i) for i in gone if i.isdigit())


async def forget_one(redis: Redis, export_id: int | str) -> None:
    if await redis.exists(EVENT_STREAM):  # XGROUP DESTROY refuses a stream that does not exist (a flushed Redis)
        await redis.xgroup_destroy(EVENT_STREAM, f"{GROUP_PREFIX}{export_id}")
    await redis.hdel(STATUS_KEY, str(export_id))  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class ExportFigures:
    export_id: int
    waiting: int | None
    lag_s: float
    up: bool | None  # None: no reader has reported yet
    down_for_s: float


async def figures(redis: Redis) -> list[ExportFigures]:
    """Per export: events waiting, age of the oldest, and whether (and how long) its broker is down."""
    now_ms = time.time() * 1000
    states = await statuses(redis)
    out = []
    for group in await groups(redis):
        if not group.name.startswith(GROUP_PREFIX) or not group.name[len(GROUP_PREFIX):].isdigit():
            continue
        export_id = int(group.name[len(GROUP_PREFIX):])
        state = states.get(export_id)
        lag = max(0.0, (now_ms - group.oldest_ms) / 1000) if group.oldest_ms is not None else 0.0
        down_for = time.time() - state["since"] if state is not None and not state["up"] else 0.0
        out.append(ExportFigures(export_id, group.waiting, round(lag, 3), None if state is None else state["up"],
                                 round(down_for, 1)))
    return out
