"""Received media downloaded from WhatsApp into the media store, as they arrive or when first asked for.

The download handle stays with the message (`messages.media_source`), so a medium not fetched on arrival (the
session downloads on request, the bridge stopped half-way, WhatsApp was slow) can still be fetched later. A medium
too large or not of an allowed kind is refused like an upload would be, and the reason is kept on the message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import Direction
from wagate.db.models_whatsapp import Message, WaSession
from wagate.errors import TransportError, WAGateError
from wagate.services.media.keeping import keep
from wagate.services.media.store import media_stores
from wagate.transport.base import MessageReceived, WhatsAppTransport

log = structlog.get_logger(__name__)

DOWNLOAD_TIMEOUT_S = 300.0  # a 100 MB video on a slow line; past this the download is left to a later request


class Downloads:
    """The arrival downloads of one bridge, run beside event handling so one slow medium holds up no message."""

    def __init__(self, db: async_sessionmaker[AsyncSession], settings: Settings, transport: WhatsAppTransport) -> None:
        self.db = db
        self.settings = settings
        self.transport = transport
        self._tasks: set[asyncio.Task[Any]] = set()

    async def on_received(self, event: MessageReceived) -> None:
        """Start the download of `event`'s medium when its session downloads on arrival."""
        if event.media is None or not event.media.download:
            return
        async with self.db() as session:
            row = await session.scalar(select(WaSession.settings).where(WaSession.id == event.session_id))
        if ((row or {}).get("media_download") or self.settings.media_download) != "arrival":
            return
        task = asyncio.create_task(self._quietly(event), name=f"media:{event.session_id}:{event.message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, event: MessageReceived) -> None:
        async with self.db() as session:
            message_id = await session.scalar(select(Message.id).where(
                Message.session_id == event.session_id, Message.direction == Direction.INBOUND,
                Message.wa_message_id == event.message_id))
        if message_id is None:
            return
        try:
            await download(self.db, self.settings, self.transport, message_id)
        except (WAGateError, OSError) as exc:
            log.warning("received medium not downloaded", session_id=event.session_id, message_id=message_id,
                        reason=getattr(exc, "message", None) or type(exc).__name__)
        except Exception:
            log.exception("received medium not downloaded", session_id=event.session_id, message_id=message_id)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def download(db: async_sessionmaker[AsyncSession], settings: Settings, transport: WhatsAppTransport,
                   message_id: int) -> int:
    """Fetch message `message_id`'s medium into the store (once: a medium kept already is left as it is); the
    medium's id. Raises the refusal (too large, not an allowed kind) or `TransportError` from WhatsApp."""
    async with db() as session:
        message = await session.get(Message, message_id)
    if message is None or message.session_id is None:
        raise TransportError("no such message")
    if message.media_id is not None:
        return message.media_id
    if not message.media_source:
        raise TransportError("this message carries no medium to download")
    chunks = transport.download_media(message.session_id, message.media_source)
    try:
        async with asyncio.timeout(DOWNLOAD_TIMEOUT_S):
            kept = await keep(db, settings, media_stores(settings), chunks, file_name=message.media_name)
    except WAGateError as exc:
        if not isinstance(exc, TransportError):  # refused as it is: say why on the message, for good
            async with db() as session, session.begin():
                await session.execute(update(Message).where(Message.id == message_id).values(
                    error=f"medium not kept: {exc.message}"[:1000]))
        raise
    async with db() as session, session.begin():
        await session.execute(update(Message).where(Message.id == message_id).values(
            media_id=kept.medium_id, media_mime=kept.kind.mimetype))
    log.info("received medium kept", session_id=message.session_id, message_id=message_id, size=kept.size,
             mimetype=kept.kind.mimetype, new=kept.new)
    return kept.medium_id
