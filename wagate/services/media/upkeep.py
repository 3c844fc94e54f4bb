"""The media store's upkeep, run by the worker: media kept locally during an outage moved to the store once it is
back, media past their retention (or never used) removed, and the store's health for `/api/health`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from wagate.db.enums import BroadcastStatus, MessageStatus
from wagate.db.models_delivery import Broadcast
from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.services.media.store import LOCAL, MediaStoreError, MediaStores, StoreUnavailable, key_of

log = structlog.get_logger(__name__)

MOVE_BATCH = 50  # media moved per run; the next run (a minute later) goes on
UNUSED_GRACE = timedelta(hours=1)  # a medium nothing points at yet may be a send being written right now
CHECK_TIMEOUT_S = 2.0
_PENDING_SENDS = (MessageStatus.QUEUED, MessageStatus.SENDING)
_LIVE_BROADCASTS = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED, BroadcastStatus.RUNNING, BroadcastStatus.PAUSED)


async def move_waiting(db: async_sessionmaker[AsyncSession], stores: MediaStores, *, batch: int = MOVE_BATCH) -> int:
    """Carry media kept locally while the object store was out over to it; stops at the first refusal."""
    if not stores.remote:
        return 0
    async with db() as session:
        waiting = list(await session.scalars(
            select(Medium).where(Medium.location == LOCAL).order_by(Medium.id).limit(batch)))
    moved = 0
    for medium in waiting:
        key = key_of(medium.sha256)
        local_path = stores.local.path_of(key)  # type: ignore[attr-defined]
        try:
            await stores.primary.put(key, local_path, medium.mimetype)
        except StoreUnavailable as exc:
            log.warning("media store still unavailable: media wait locally", reason=exc.reason, waiting=len(waiting))
            break
        except FileNotFoundError:
            log.error("medium waiting for the store is missing locally", medium_id=medium.id)
            continue
        async with db() as session, session.begin():
            await session.execute(update(Medium).where(Medium.id == medium.id).values(location=stores.primary.kind))
        await stores.local.delete(key)
        moved += 1
    if moved:
        log.info("media moved to the store", moved=moved, store=stores.primary.kind)
    return moved


async def remove_expired(db: async_sessionmaker[AsyncSession], stores: MediaStores, retention_days: int, *,
                         now: datetime | None = None) -> int:
    """Delete media unused for `retention_days` (0: kept for good) and media nothing ever used; never the medium of
    a send still queued or of a broadcast not finished. Their messages keep their rows, without the file."""
    now = now or utcnow()
    pending = or_(
        select(Message.id).where(Message.media_id == Medium.id, Message.status.in_(_PENDING_SENDS)).exists(),
        select(Broadcast.id).where(Broadcast.media_id == Medium.id, Broadcast.status.in_(_LIVE_BROADCASTS)).exists())
    used = or_(select(Message.id).where(Message.media_id == Medium.id).exists(),
               select(Broadcast.id).where(Broadcast.media_id == Medium.id).exists())
    due: ColumnElement[bool] = (~used) & (Medium.last_used_at < now - UNUSED_GRACE)
    if retention_days > 0:
        due = or_(due, Medium.last_used_at < now - timedelta(days=retention_days))
    async with db() as session:
        expired = list(await session.execute(select(Medium.id, Medium.sha256, Medium.location)
                                             .where(due, ~pending).limit(500)))
    if not expired:
        return 0
    ids = [row.id for row in expired]
    async with db() as session, session.begin():
        # Explicitly, not only by the foreign key: SQLite enforces ON DELETE only with its pragma on.
        await session.execute(update(Message).where(Message.media_id.in_(ids)).values(media_id=None))
        await session.execute(update(Broadcast).where(Broadcast.media_id.in_(ids)).values(media_id=None))
        await session.execute(delete(Medium).where(Medium.id.in_(ids)))
    for row in expired:
        with contextlib.suppress(MediaStoreError):  # an object left behind costs space, never correctness
            await stores.at(row.location).delete(key_of(row.sha256))
    log.info("media past retention removed", removed=len(ids), retention_days=retention_days)
    return len(ids)


@dataclass(frozen=True, slots=True)
class StoreHealth:
    store: str
    status: str  # ok | down
    waiting: int  # media kept locally until the store takes them
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"store": self.store, "status": self.status, "waiting": self.waiting, "reason": self.reason}


async def store_health(db: async_sessionmaker[AsyncSession] | None, stores: MediaStores) -> StoreHealth:
    reason = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await stores.primary.check()
    except StoreUnavailable as exc:
        reason = exc.reason
    except TimeoutError:
        reason = f"no answer within {CHECK_TIMEOUT_S:g} s"
    waiting = 0
    if stores.remote and db is not None:
        with contextlib.suppress(Exception):  # the database's own health is reported beside this
            async with asyncio.timeout(CHECK_TIMEOUT_S), db() as session:
                waiting = await session.scalar(
                    select(func.count()).select_from(Medium).where(Medium.location == LOCAL)) or 0
    return StoreHealth(stores.primary.kind, "down" if reason else "ok", waiting, reason)
