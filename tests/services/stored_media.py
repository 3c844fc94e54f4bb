"""The bytes a row's medium holds, wherever the gateway keeps it: the media store, or a file kept before it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.models_media import Medium
from wagate.services.media.store import key_of, media_stores


async def stored_bytes(db: async_sessionmaker[AsyncSession], settings: Settings, media_id: int | None,
                       media_path: str | None = None) -> bytes:
    if media_id is None:
        return Path(media_path or "").read_bytes()  # noqa: ASYNC240 - a small local read in a test
    async with db() as s:
        medium = await s.get(Medium, media_id)
    assert medium is not None, f"medium {media_id} is not kept"
    return b"".join([chunk async for chunk in media_stores(settings).at(medium.location).read(key_of(medium.sha256))])
