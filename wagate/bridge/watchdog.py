"""The bridge's watchdog: one timer per bridge that finds senders that stopped and messages left `queued`.

Senders sleep until woken (a send job, a nudge, Connected); a wake-up lost, or a sender that died or hung,
would leave messages `queued` with nobody to notice. Every `period_s` one query lists the shard's WORKING
sessions with an outgoing message due more than `bound_s` ago and still `queued`. A session whose sender made
no turn within the bound (or has none, or one that stopped) is stalled: counted, logged as an error, shown in
`/api/health`, and recovered: its sender restarted when this bridge drives the session, else a `start` command
enqueued for its shard, which takes the session's lease if no live bridge holds it and connects it again (a
session the database calls WORKING that no bridge drives is the stall a lost lease leaves). A sender that is
busy working through a backlog is left alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

import structlog
from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge.sender import SEND_TIMEOUT_S, SessionSender
from wagate.db.enums import Direction, MessageStatus, SessionStatus
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.observability import stalls
from wagate.queue.jobs import enqueue_session_command
from wagate.queue.names import shard_of

log = structlog.get_logger(__name__)

PERIOD_S = 10.0
# Past its due time, a queued message of a connected session whose sender made no turn for this long is stuck;
# longer than the longest send (a slow media upload), so a sender busy with one is never taken for stalled.
BOUND_S = SEND_TIMEOUT_S + 30
START_PATIENCE_S = 90.0  # longer than a start command's retries while another bridge holds the lease (60 s)


async def overdue(db: async_sessionmaker[AsyncSession], older_than: datetime) -> dict[str, datetime]:
    """WORKING sessions with an outgoing message still `queued` though due before `older_than`: the oldest due."""
    due = func.coalesce(Message.send_at, Message.created_at)
    async with db() as session:
        rows = await session.execute(
            select(Message.session_id, func.min(due))
            .join(WaSession, WaSession.id == Message.session_id)
            .where(Message.status == MessageStatus.QUEUED, Message.direction == Direction.OUTBOUND,
                   due < older_than, WaSession.status == SessionStatus.WORKING)
            .group_by(Message.session_id)
        )
        return {str(sid): when for sid, when in rows}


class Watchdog:
    """Runs `check` every `period_s` until cancelled; `restart(session_id)` gives a session a fresh sender."""

    def __init__(self, db: async_sessionmaker[AsyncSession], redis: Redis, shard: int, shards: int,
                 senders: Mapping[str, SessionSender], mine: Callable[[str], bool],
                 restart: Callable[[str], Awaitable[None]], *, period_s: float = PERIOD_S,
                 bound_s: float = BOUND_S, also: Sequence[Callable[[], Awaitable[object]]] = ()) -> None:
        self.db, self.redis, self.shard, self.shards = db, redis, shard, shards
        self.senders, self.mine, self.restart = senders, mine, restart
        self.period_s, self.bound_s = period_s, bound_s
        self.also = also  # other checks on this one timer (silent sessions): a bridge keeps no per-session timer
        self._asked: dict[str, float] = {}  # session -> when a start command was last enqueued for it

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            for check in (self.check, *self.also):
                try:
                    await check()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("watchdog check failed", shard=self.shard, check=getattr(check, "__qualname__", ""))

    async def check(self) -> list[str]:
        """One pass: the sessions found stalled (and restarted)."""
        now = time.monotonic()
        stopped = [sid for sid, sender in self.senders.items() if not sender.running]
        late = await overdue(self.db, utcnow() - timedelta(seconds=self.bound_s))
        ours = [sid for sid in late if shard_of(sid, self.shards) == self.shard and sid not in stopped]
        stuck = [sid for sid in ours if self._idle(sid, now)]
        undriven = [sid for sid in stuck if not self.mine(sid)]
        for sid in stopped + stuck:
            if sid in undriven:
                await self._start_elsewhere(sid)
            else:
                await self.restart(sid)
        reporter = stalls.bridge_reporter(self.shard)
        keep_s = 3 * self.period_s
        if stopped:
            await stalls.report(self.redis, reporter, "sender_stopped", len(stopped), keep_s, session_ids=stopped[:20])
        if stuck:
            oldest = min(late[sid] for sid in stuck)
            await stalls.report(self.redis, reporter, "message_queued", len(stuck), keep_s, session_ids=stuck[:20],
                                undriven=len(undriven), oldest_due=oldest.isoformat(), bound_s=self.bound_s)
        return stopped + stuck

    async def _start_elsewhere(self, session_id: str) -> None:
        """A `start` command for the session: whichever bridge of the shard can take its lease connects it.

        One at a time: a command waits for a held lease for a minute (its retries), so no second one is asked
        for meanwhile."""
        now = time.monotonic()
        if now - self._asked.get(session_id, -START_PATIENCE_S) < START_PATIENCE_S:
            return
        self._asked = {sid: at for sid, at in self._asked.items() if now - at < START_PATIENCE_S}
        self._asked[session_id] = now
        if isinstance(self.redis, ArqRedis):
            await enqueue_session_command(self.redis, self.shards, session_id, "start")

    def _idle(self, session_id: str, now: float) -> bool:
        """No turn of its sender within the bound: nothing is working on its due messages."""
        sender = self.senders.get(session_id)
        return sender is None or now - sender.busy_at > self.bound_s
