"""A message's medium for whoever may see it: a caller of the message's tenant, or the holder of a signed link.

The answer is a redirect (the store serves it itself: a public base URL or a presigned URL) or the bytes streamed
from the store. A received medium of a session that downloads on request is not there yet: `NotDownloaded` says
so, and the web asks the session's bridge to fetch it first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message, WaSession
from wagate.errors import NotFound, OtherTenant, ServiceUnavailable, WAGateError
from wagate.services.media.local_store import file_chunks
from wagate.services.media.store import MediaStores, MediumMissing, StoreUnavailable, key_of


class NotDownloaded(WAGateError):
    """A received medium that is downloaded on first request and has not been yet."""

    status = 409

    def __init__(self, session_id: str) -> None:
        super().__init__("The medium has not been downloaded yet")
        self.session_id = session_id


@dataclass(frozen=True, slots=True)
class Served:
    mimetype: str
    size: int | None
    file_name: str | None
    redirect: str | None = None
    chunks: AsyncIterator[bytes] | None = None


async def message_medium(db: async_sessionmaker[AsyncSession], stores: MediaStores, message_id: int,
                         tenant_id: int | None) -> Served:
    """The medium of message `message_id`; `tenant_id` (None: any) must own the message's session."""
    async with db() as session:
        found = (await session.execute(
            select(Message, WaSession.tenant_id, Medium)
            .outerjoin(WaSession, WaSession.id == Message.session_id)
            .outerjoin(Medium, Medium.id == Message.media_id)
            .where(Message.id == message_id))).first()
    if found is None:
        raise NotFound("Message not found")
    message, owner, medium = found
    if tenant_id is not None and owner != tenant_id:
        raise OtherTenant("Message not found", f"message {message_id} belongs to another tenant")
    if medium is not None:
        return await _from_store(stores, medium, message.media_name)
    if message.media_path:  # a file kept before the media store existed
        return _from_file(Path(message.media_path), message.media_mime, message.media_name)
    if message.media_source and message.session_id:
        raise NotDownloaded(message.session_id)
    raise NotFound("This message has no medium", {"media": ["none stored for this message"]})


async def _from_store(stores: MediaStores, medium: Medium, file_name: str | None) -> Served:
    store = stores.at(medium.location)
    key = key_of(medium.sha256)
    try:
        url = await store.direct_url(key, medium.mimetype, file_name)
    except StoreUnavailable as exc:
        raise ServiceUnavailable("The media store cannot be reached; try again shortly", exc.reason) from exc
    if url is not None:
        return Served(medium.mimetype, medium.size, file_name, redirect=url)
    chunks = store.read(key)
    try:
        first = await anext(chunks, b"")  # a missing or unreachable object is an error before any byte is sent
    except MediumMissing as exc:
        raise NotFound("The medium is no longer kept", {"media": [exc.reason]}) from exc
    except StoreUnavailable as exc:
        raise ServiceUnavailable("The media store cannot be reached; try again shortly", exc.reason) from exc
    return Served(medium.mimetype, medium.size, file_name, chunks=_prepend(first, chunks))


def _from_file(path: Path, mimetype: str | None, file_name: str | None) -> Served:
    if not path.is_file():
        raise NotFound("The medium is no longer kept", {"media": ["the file is gone"]})
    return Served(mimetype or "application/octet-stream", path.stat().st_size, file_name, chunks=file_chunks(path))


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk
