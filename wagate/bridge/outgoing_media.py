"""The bytes of an outgoing message's medium, read from the media store for the transport to upload to WhatsApp.

A store out of reach is nobody's fault: the send waits and is tried again (`MediumUnreachable`), without using up
its attempts. A medium the store no longer has makes the message unsendable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_media import Medium
from wagate.db.models_whatsapp import Message
from wagate.errors import MessageUnsendable, TransportError
from wagate.services.media.store import MediaStores, MediumMissing, StoreUnavailable, key_of

STORE_RETRY_S = 10.0  # how soon a send whose medium the store could not give is looked at again


class MediumUnreachable(TransportError):
    """The media store did not answer: the send is put back, its attempts untouched."""

    default_message = "the media store cannot be reached; the send waits for it"


async def media_bytes(db: async_sessionmaker[AsyncSession], stores: MediaStores, message: Message) -> bytes:
    if message.media_id is None:  # a file kept before the media store existed
        try:
            return await asyncio.to_thread(Path(message.media_path or "").read_bytes)
        except OSError as exc:
            raise MessageUnsendable("the media file of this message is missing") from exc
    async with db() as session:
        medium = await session.get(Medium, message.media_id)
    if medium is None:
        raise MessageUnsendable("the medium of this message is no longer kept")
    parts: list[bytes] = []  # WhatsApp encrypts and uploads the whole file: the transport takes it as one
    try:
        async for chunk in stores.at(medium.location).read(key_of(medium.sha256)):
            parts.append(chunk)
    except MediumMissing as exc:
        raise MessageUnsendable("the medium of this message is no longer kept") from exc
    except StoreUnavailable as exc:
        raise MediumUnreachable(f"the media store cannot be reached ({exc.reason}); the send waits for it") from exc
    return b"".join(parts)
