"""The bridge process of one shard: holds its sessions' WhatsApp connections and consumes their queue."""

from __future__ import annotations

from arq import Worker

from wagate.config import Settings
from wagate.queue.names import bridge_queue
from workers.common import build_worker


def create_bridge(settings: Settings, shard: int, *, handle_signals: bool = True) -> Worker:
    if not 0 <= shard < settings.bridge_shards:
        raise ValueError(f"shard must be between 0 and {settings.bridge_shards - 1} (BRIDGE_SHARDS)")
    return build_worker(settings, queue_name=bridge_queue(shard), functions=[], handle_signals=handle_signals)
