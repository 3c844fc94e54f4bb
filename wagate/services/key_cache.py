"""A short-lived, per-process cache of API key lookups, so a burst of calls with one key costs one query.

Every authenticated API call looks its key up; the row rarely changes, and a lookup is a database round trip
plus the ORM's work (about a fifth of a send's cost). Entries live `TTL_S` seconds. A process that changes
a key or a tenant (revoke, rotate, subscription update, the expiry cron) forgets every entry at once; another
process notices within `TTL_S`: that is how long a key revoked elsewhere may still be accepted here.
"""

from __future__ import annotations

import time
from typing import Any

TTL_S = 5.0
MAX_ENTRIES = 10_000

_entries: dict[str, tuple[float, Any]] = {}


def get(key_hash: str) -> Any | None:
    entry = _entries.get(key_hash)
    if entry is None:
        return None
    if entry[0] <= time.monotonic():
        _entries.pop(key_hash, None)
        return None
    return entry[1]


def put(key_hash: str, row: Any) -> None:
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()  # a flood of distinct keys: start over rather than grow without bound
    _entries[key_hash] = (time.monotonic() + TTL_S, row)


def forget() -> None:
    """Drop every entry: this process just changed a key or a tenant."""
    _entries.clear()
