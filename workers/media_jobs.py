"""Media jobs of the worker: move media kept locally during a store outage, and apply the retention."""

from __future__ import annotations

from arq.cron import cron

from wagate.services.media import upkeep
from wagate.services.media.store import media_stores
from workers.common import Ctx

# Below the period, so a slow run (a large backlog after an outage) never overlaps the next one.
MOVE_TIMEOUT_S = 50


async def media_mover(ctx: Ctx) -> int:
    """Carry media kept locally while the object store was down over to it (a batch a run)."""
    return await upkeep.move_waiting(ctx["db"], media_stores(ctx["settings"]))


async def media_retention(ctx: Ctx) -> int:
    """Remove media past MEDIA_RETENTION_DAYS, and media nothing ever used."""
    settings = ctx["settings"]
    return await upkeep.remove_expired(ctx["db"], media_stores(settings), settings.media_retention_days)


CRON_JOBS = [
    # Every 15 s and at start-up: a store back from an outage gets its waiting media soon after.
    cron(media_mover, name="cron:media_mover", second={5, 20, 35, 50}, run_at_startup=True, timeout=MOVE_TIMEOUT_S),
    # Hourly: retention is counted in days.
    cron(media_retention, name="cron:media_retention", minute=17, second=30, run_at_startup=True, timeout=300),
]
