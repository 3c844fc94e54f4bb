"""Every bridge of a shard keeps claiming: orphaned sessions are taken over, and the shard's sessions spread fairly.

There is no primary and no standby. Each `CLAIM_EVERY_S` (and at once when another bridge hands sessions over)
a bridge reads which of its shard's sessions should run and who holds their leases (`wagate.services.sessions.drivers`):

- an orphaned session (no lease, or a lease whose holder is no live bridge) is started here if this bridge
  drives fewer than its fair share (the shard's sessions over its live bridges, rounded up); one still orphaned
  a pass later is started whatever the share, so no session waits for a bridge with room;
- a bridge above its share while another live bridge of the shard is below it hands over `MOVE_AT_ONCE`
  connected sessions per pass (stops them and releases their leases); a bridge below its share claims them.

So a bridge killed is replaced within its registry entry's lapse plus a pass, a bridge stopped gracefully at
once (it releases its leases and says so), and a bridge added takes its share a few sessions at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Awaitable
from typing import Protocol

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge.leases import LeaseHeld, SessionLeases, holder_is_gone
from wagate.db.enums import SessionStatus
from wagate.queue.names import shard_of
from wagate.services.sessions import drivers

log = structlog.get_logger(__name__)

CLAIM_EVERY_S = 5.0
MIN_GAP_S = 0.5  # between two passes, however often other bridges ask for one
MOVE_AT_ONCE = 2  # sessions handed over per pass when rebalancing: each is offline for a moment while it moves
HANDED_OVER_S = 2 * CLAIM_EVERY_S  # a session handed over is left to the others this long


class Driver(Protocol):
    """What the claims need of the bridge."""

    shard: int
    leases: SessionLeases

    async def start_session(self, session_id: str, *, resume: bool = False) -> None: ...

    async def hand_over(self, session_id: str) -> None: ...


class Claims:
    def __init__(self, driver: Driver, *, db: async_sessionmaker[AsyncSession], redis: Redis, shards: int) -> None:
        self.driver = driver
        self.db = db
        self.redis = redis
        self.shards = shards
        self._asked = asyncio.Event()
        self._orphaned_before: set[str] = set()
        self._handed_over: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    def ask(self) -> None:
        """Run a pass soon (another bridge released sessions)."""
        self._asked.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"claims:{self.driver.shard}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_pass()
            except Exception as exc:  # the database or Redis away: the next pass tries again
                log.warning("claim pass failed", shard=self.driver.shard, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(MIN_GAP_S)
            self._asked.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._asked.wait(), CLAIM_EVERY_S - MIN_GAP_S)

    async def run_pass(self) -> None:
        shard, me = self.driver.shard, self.driver.leases.owner
        async with self.db() as session:
            should_run = {sid: status for sid, status in (await drivers.should_run(session)).items()
                          if shard_of(sid, self.shards) == shard}
        state = await drivers.driving(self.redis, should_run)
        # A process of this host that is gone counts as gone at once, before its registry entry lapses.
        live = {owner: s for owner, s in state.bridges.items() if owner == me or not holder_is_gone(owner)}
        mates = [owner for owner, s in live.items() if s == shard] or [me]
        share = math.ceil(len(should_run) / max(1, len(mates)))
        held = self.driver.leases.held
        now = time.monotonic()
        self._handed_over = {sid: t for sid, t in self._handed_over.items() if now - t < HANDED_OVER_S}
        orphaned = [sid for sid in should_run if sid not in held and state.holders.get(sid) not in live]
        room = share - len(held)
        claim = []
        for sid in orphaned:
            if sid in self._orphaned_before or (room > 0 and sid not in self._handed_over):
                claim.append(sid)
                room -= 1
        self._orphaned_before = set(orphaned) - set(claim)
        await self._start(claim)
        counts = Counter(holder for holder in state.holders.values() if holder in mates)
        if len(held) > share and any(counts[m] < share for m in mates if m != me):
            connected = sorted(sid for sid in held if should_run.get(sid) == SessionStatus.WORKING)
            for sid in connected[:min(MOVE_AT_ONCE, len(held) - share)]:
                self._handed_over[sid] = now
                log.info("session handed over to even out the shard", session_id=sid, share=share, held=len(held))
                await self.driver.hand_over(sid)

    async def _start(self, session_ids: list[str]) -> None:
        if session_ids:
            log.info("claiming orphaned sessions", shard=self.driver.shard, count=len(session_ids))
        for sid in session_ids:
            await _quietly(sid, self.driver.start_session(sid, resume=True))


async def _quietly(session_id: str, start: Awaitable[None]) -> None:
    try:
        await start
    except LeaseHeld:
        pass  # another bridge claimed it first
    except Exception:
        log.exception("claimed session did not start", session_id=session_id)
