"""Requests made with each API key, counted per UTC hour in Redis: the dashboard's "API usage per key".

Each web process adds up its requests per key in memory (`api_keys.KeyUsage`) and adds them here once a
minute: one HINCRBY per key into the hour's hash, which expires after the longest chart range. Every web process
adds into the same hashes, so the counts are the install's. A chart's window is rounded out to whole UTC hours,
exact for every zone whose offset is whole hours (Asia/Jakarta's is).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)
KEEP_S = 32 * 24 * 3600  # the month chart's 30 days, and a day either side
_KEY = "wagate:key_requests:"


def hour_key(at: datetime) -> str:
    return f"{_KEY}{at.astimezone(UTC):%Y%m%d%H}"


async def add(redis: Any, counts: Mapping[int, int], at: datetime) -> None:
    """Add `counts` (requests by key id) to the hour of `at`."""
    key = hour_key(at)
    async with redis.pipeline(transaction=False) as pipe:
        for key_id, requests in counts.items():
            pipe.hincrby(key, str(key_id), requests)
        pipe.expire(key, KEEP_S)
        await pipe.execute()


async def between(redis: Any, start: datetime, end: datetime) -> Counter[int]:
    """Requests by key id from the hour holding `start` up to the hour before `end`."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour < end:
        hours.append(hour_key(hour))
        hour += HOUR
    totals: Counter[int] = Counter()
    async with redis.pipeline(transaction=False) as pipe:
        for key in hours:
            pipe.hgetall(key)
        for counts in await pipe.execute():
            totals.update({int(key_id): int(n) for key_id, n in counts.items()})
    return totals
