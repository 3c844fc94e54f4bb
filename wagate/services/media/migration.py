"""`wagate media migrate --to s3`: the media kept on local disk moved into the object store, resumable.

Two kinds of local media: files written before the media store existed (`messages.media_path`,
`broadcasts.media_path`), which are kept by content hash like a new upload, and media rows still `local` (kept
while the store was out, or before MEDIA_STORE=s3). Each file is committed on its own, so a run stopped half-way
goes on where it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.models_delivery import Broadcast
from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message
from wagate.errors import Invalid, ServiceUnavailable, WAGateError
from wagate.services.media import upkeep
from wagate.services.media.keeping import keep
from wagate.services.media.local_store import file_chunks
from wagate.services.media.store import LOCAL, MediaStores, StoreUnavailable

Progress = Callable[[int, int], None]  # (done, total)


@dataclass(frozen=True, slots=True)
class Migrated:
    moved: int
    missing: list[str]  # older files that were gone from disk: their messages keep no medium


async def migrate_to_store(db: async_sessionmaker[AsyncSession], settings: Settings, stores: MediaStores,
                           progress: Progress) -> Migrated:
    if not stores.remote:
        raise Invalid("MEDIA_STORE is local: set MEDIA_STORE=s3 and the MEDIA_S3_* settings, then run this again",
                      {"MEDIA_STORE": ["is local"]})
    try:
        await stores.primary.check()
    except StoreUnavailable as exc:
        raise ServiceUnavailable(f"The object store cannot be reached: {exc.reason}") from exc
    paths = await _older_files(db)
    async with db() as session:
        waiting = await session.scalar(select(func.count()).select_from(Medium).where(Medium.location == LOCAL)) or 0
    total, done, missing = len(paths) + waiting, 0, []
    progress(done, total)
    for path in paths:
        if not await asyncio.to_thread(Path(path).is_file):
            missing.append(path)
        else:
            await _adopt(db, settings, stores, path)
        done += 1
        progress(done, total)
    while True:
        moved = await upkeep.move_waiting(db, stores)
        if not moved:
            break
        done += moved
        progress(min(done, total), total)
    async with db() as session:
        left = await session.scalar(select(func.count()).select_from(Medium).where(Medium.location == LOCAL)) or 0
    if left:
        raise ServiceUnavailable(f"{left} media could not be moved: the store stopped answering; run this again")
    return Migrated(done, missing)


async def _older_files(db: async_sessionmaker[AsyncSession]) -> list[str]:
    query = union(
        select(Message.media_path).where(Message.media_path.is_not(None), Message.media_id.is_(None)),
        select(Broadcast.media_path).where(Broadcast.media_path.is_not(None), Broadcast.media_id.is_(None)))
    async with db() as session:
        return sorted(str(p) for p in await session.scalars(query))


async def _adopt(db: async_sessionmaker[AsyncSession], settings: Settings, stores: MediaStores, path: str) -> None:
    """Keep an older file by content hash, point its messages and broadcasts at it, then remove the file."""
    try:
        kept = await keep(db, settings, stores, file_chunks(Path(path)), file_name=Path(path).name)
    except WAGateError as exc:  # a file today's checks refuse stays where it is, its rows untouched
        raise Invalid(f"{path} cannot be moved: {exc.message}") from exc
    async with db() as session, session.begin():
        await session.execute(update(Message).where(Message.media_path == path, Message.media_id.is_(None))
                              .values(media_id=kept.medium_id, media_path=None))
        await session.execute(update(Broadcast).where(Broadcast.media_path == path, Broadcast.media_id.is_(None))
                              .values(media_id=kept.medium_id, media_path=None))
    await asyncio.to_thread(Path(path).unlink, missing_ok=True)
