"""Keeping a medium: bytes streamed to a temporary file while hashed and measured, sniffed, then stored once.

The content hash is the key: a medium already kept (the same file sent to many, received twice) is not stored
again, its row is only marked used. When the configured store is out of reach the file is kept locally and the
row says so; the worker's mover carries it over once the store is back, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import uuid
import zipfile
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.models_delivery import Broadcast
from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.errors import Invalid, PayloadTooLarge, too_large_message
from wagate.services.media.store import MediaStoreError, MediaStores, StoreUnavailable, key_of
from wagate.services.messaging import media as media_files

log = structlog.get_logger(__name__)

SNIFF_BYTES = 1024 * 1024  # what sniffing reads: magic numbers, and an MP4's tracks when its index comes first


@dataclass(frozen=True, slots=True)
class Kept:
    medium_id: int
    sha256: str
    size: int
    kind: media_files.MediaKind
    file_name: str  # safe to show and to send as a document's name
    location: str
    new: bool  # False: the same bytes were kept already
    used_at: datetime  # the row's last_used_at as this keep left it


async def chunks_of(data: bytes) -> AsyncIterable[bytes]:
    """Bytes already in memory (a multipart upload, a data URI) as the stream `keep` takes."""
    view = memoryview(data)
    for start in range(0, len(view), 1024 * 1024):
        yield bytes(view[start:start + 1024 * 1024])


async def keep(db: async_sessionmaker[AsyncSession], settings: Settings, stores: MediaStores,
               chunks: AsyncIterable[bytes], *, file_name: str | None = None,
               accept: Callable[[media_files.MediaKind], None] | None = None) -> Kept:
    """Stream `chunks` into the store under their sha256; `accept` may refuse the sniffed kind (it raises)."""
    temp = await _spool(chunks, settings)
    try:
        sha256, size = temp.sha256, temp.size
        if size == 0:
            raise Invalid("Invalid message", details={"media": "is empty"})
        kind = await asyncio.to_thread(sniff_file, temp.path, file_name)
        if accept is not None:
            accept(kind)
        used_at = utcnow()
        medium_id, location, new = await _place(db, stores, temp.path, sha256, size, kind.mimetype, used_at)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.path.unlink()
    return Kept(medium_id, sha256, size, kind, media_files.safe_file_name(file_name, kind.extension), location, new,
                used_at)


async def discard(db: async_sessionmaker[AsyncSession], stores: MediaStores, kept: Kept | None) -> None:
    """Undo `keep` for a send that was refused after it: a medium it added, that nothing uses, goes again.

    A twin keeping the same bytes since moved `last_used_at`, and a message or broadcast may point at it: either
    way it stays (retention removes it later if it is really unused)."""
    if kept is None or not kept.new:
        return
    used = or_(select(Message.id).where(Message.media_id == kept.medium_id).exists(),
               select(Broadcast.id).where(Broadcast.media_id == kept.medium_id).exists())
    async with db() as session, session.begin():
        gone = await session.execute(delete(Medium).where(
            Medium.id == kept.medium_id, Medium.last_used_at == kept.used_at, ~used))
    if gone.rowcount == 1:  # type: ignore[attr-defined]
        with contextlib.suppress(MediaStoreError):
            await stores.at(kept.location).delete(key_of(kept.sha256))


@dataclass(frozen=True, slots=True)
class _Spooled:
    path: Path
    sha256: str
    size: int


async def _spool(chunks: AsyncIterable[bytes], settings: Settings) -> _Spooled:
    """Write `chunks` to a temporary file under UPLOAD_DIR, refusing past MAX_UPLOAD_MB without reading on."""
    folder = (settings.upload_dir / "incoming").absolute()
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.part"
    digest, size, limit = hashlib.sha256(), 0, settings.max_upload_bytes
    fh = await asyncio.to_thread(open, path, "xb")
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(too_large_message(settings.max_upload_mb),
                                      details={"media": [f"is over {settings.max_upload_mb} MB, the limit"]})
            digest.update(chunk)
            await asyncio.to_thread(fh.write, chunk)
        await asyncio.to_thread(fh.flush)
    except BaseException:
        fh.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    fh.close()
    return _Spooled(path, digest.hexdigest(), size)


def sniff_file(path: Path, file_name: str | None) -> media_files.MediaKind:
    """`media.sniff` over a file: its head, and for a ZIP-based document the central directory read from disk."""
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, ValueError, EOFError):
            names = []
        # A stand-in archive with the same part names: sniffing decides by the names only.
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as stand_in:
            for name in names:
                stand_in.writestr(name, b"")
        return media_files.sniff(buffer.getvalue() if names else head, file_name)
    return media_files.sniff(head, file_name)


async def _place(db: async_sessionmaker[AsyncSession], stores: MediaStores, path: Path, sha256: str, size: int,
                 mimetype: str, used_at: datetime) -> tuple[int, str, bool]:
    """The medium's row (found or written) after its bytes are in the store, or kept locally while it is down."""
    async with db() as session:
        found = await session.scalar(select(Medium).where(Medium.sha256 == sha256))
        if found is not None:
            await session.execute(update(Medium).where(Medium.id == found.id).values(last_used_at=used_at))
            await session.commit()
            return found.id, found.location, False
    key = key_of(sha256)
    try:
        await stores.primary.put(key, path, mimetype)
        location = stores.primary.kind
    except StoreUnavailable as exc:
        if not stores.remote:
            raise
        log.warning("media store unavailable: medium kept locally until it is back", reason=exc.reason,
                    sha256=sha256)
        await stores.local.put(key, path, mimetype)
        location = stores.local.kind
    async with db() as session:
        row = Medium(sha256=sha256, size=size, mimetype=mimetype, location=location, last_used_at=used_at)
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # a twin kept the same bytes at the same moment: its row stands, the bytes are equal
            await session.rollback()
            twin = await session.scalar(select(Medium).where(Medium.sha256 == sha256))
            if twin is None:
                raise
            return twin.id, twin.location, False
        return row.id, location, True
