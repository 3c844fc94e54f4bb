"""Queue names and the Redis keys the processes share, in one place.

arq keeps each queue in a sorted set named after it. A bridge shard consumes only its own queue, so a
session's commands and sends always reach the one process that holds its WhatsApp connection.
"""

from __future__ import annotations

import zlib

# The worker process: webhooks, broadcast expansion, scheduled work and cron.
WORKER_QUEUE = "wagate:queue:worker"

# arq refreshes `<queue>:health-check` every health_check_interval; health reads it to tell a live consumer.
HEALTH_CHECK_INTERVAL_S = 10
HEALTH_CHECK_SUFFIX = ":health-check"


def bridge_queue(shard: int) -> str:
    return f"wagate:queue:bridge:{shard}"


def shard_of(session_id: str, shards: int) -> int:
    """The bridge shard that owns a session: crc32 is stable across processes and Python versions."""
    return zlib.crc32(session_id.encode()) % shards


def lease_key(session_id: str) -> str:
    """The session's lease: the owner id of the one bridge process that drives it (`wagate.bridge.leases`)."""
    return f"wagate:lease:session:{session_id}"


# The live bridges: a sorted set of owner ids scored by the time (ms, Redis's clock) each stops counting as alive
# unless it renews, and a hash of owner id → shard. Every bridge renews its entry with its leases.
BRIDGES_KEY = "wagate:bridges"
BRIDGE_SHARDS_KEY = "wagate:bridges:shard"


def wake_channel(shard: int) -> str:
    """Pub/sub channel a bridge shard listens on for "this session has something to send now" (a session id).

    Only a nudge beside the send job, which stays the durable path: a nudge lost while a bridge is down or
    reconnecting costs the job's poll delay, nothing more.
    """
    return f"wagate:wake:{shard}"


def released_channel(shard: int) -> str:
    """Pub/sub channel on which a bridge of the shard says it released sessions (drained or rebalanced)."""
    return f"wagate:released:{shard}"


def events_channel(tenant_id: int | None) -> str:
    """Pub/sub channel of live events for one tenant (or the global install when None)."""
    return f"wagate:events:{tenant_id if tenant_id is not None else 'global'}"


def qr_key(session_id: str) -> str:
    """The live QR code of a session: JSON `{"code", "expires_at"}` its bridge writes with the code's TTL.

    Kept in Redis only, so it vanishes when it expires; the database keeps just a hash of each code (qr_history).
    """
    return f"wagate:qr:{session_id}"
