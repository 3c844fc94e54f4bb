"""The bridge's memory ceiling (`BRIDGE_MAX_RSS_MB`): past it the process drains and exits, and its supervisor
starts a fresh one.

Memory the WhatsApp library keeps for good (stores it never closes, calls it never returns, whatever whatsmeow
grows over weeks) is freed only with the process. Draining releases every session's lease and tells the shard's
other bridges, which take the sessions over at once; with no other bridge, the restarted process resumes them.
Queued messages wait in the database meanwhile, so nothing is lost. Checked on the watchdog's timer.
"""

from __future__ import annotations

from collections.abc import Callable

import psutil
import structlog

from wagate.observability import metrics

log = structlog.get_logger(__name__)


class MemoryCeiling:
    """`check()` asks for a restart (once) when this process's resident memory is past `max_rss_mb` (0: never)."""

    def __init__(self, max_rss_mb: int, restart: Callable[[str], None], *, shard: int = 0) -> None:
        self.max_rss_mb, self.restart, self.shard = max_rss_mb, restart, shard
        self._process = psutil.Process()
        self.tripped = False

    async def check(self) -> bool:
        if not self.max_rss_mb or self.tripped:
            return False
        rss_mb = self._process.memory_info().rss / 2**20
        if rss_mb <= self.max_rss_mb:
            return False
        self.tripped = True
        log.error("bridge past its memory ceiling: draining and restarting", shard=self.shard,
                  rss_mb=round(rss_mb, 1), max_rss_mb=self.max_rss_mb)
        metrics.count_transport_incident("memory_ceiling")
        self.restart(f"resident memory {rss_mb:.0f} MB is past BRIDGE_MAX_RSS_MB={self.max_rss_mb}")
        return True
