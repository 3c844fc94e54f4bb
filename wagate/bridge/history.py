"""The history the phone sends at link time: old messages stored as the session's `history_sync` setting says.

`none` stores nothing, `recent` (the default) the last `RECENT_DAYS` days, `full` everything the phone sends.
Old messages are stored like received ones (marked `history` in their content) but never announced one by one:
no `message.received`, no auto-read, no auto-reply. Each chunk ends in one `history.synced` summary event. A
message already stored (live, or in an earlier chunk) is not stored again, nor is one this session sent.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge.inbound import conversation_of, message_row
from wagate.db.enums import HISTORY_SYNC_MODES, HistorySync
from wagate.db.models_whatsapp import Message, WaSession
from wagate.services import events
from wagate.transport.base import HistorySynced, MessageReceived

log = structlog.get_logger(__name__)

DEFAULT_MODE = HistorySync.RECENT.value
RECENT_DAYS = 30  # what "recent" keeps: a month of conversations is what an inbox shows without scrolling far


def mode_of(session: WaSession) -> str:
    mode = (session.settings or {}).get("history_sync", DEFAULT_MODE)
    return mode if mode in HISTORY_SYNC_MODES else DEFAULT_MODE


def _wanted(messages: tuple[MessageReceived, ...], mode: str, now: float) -> list[MessageReceived]:
    if mode == "none":
        return []
    if mode == "full":
        return list(messages)
    oldest = now - RECENT_DAYS * 86400
    return [m for m in messages if m.timestamp >= oldest]


async def store_history(db: async_sessionmaker[AsyncSession], event: HistorySynced,
                        now: float | None = None) -> tuple[int | None, dict[str, Any]] | None:
    """Store a chunk's wanted messages; the session's tenant and the summary, or None for an unknown session."""
    async with db() as session, session.begin():
        row = await session.get(WaSession, event.session_id)
        if row is None:
            return None
        mode = mode_of(row)
        wanted = _wanted(event.messages, mode, time.time() if now is None else now)
        ids = {m.message_id for m in wanted}
        known = set(await session.scalars(select(Message.wa_message_id).where(
            Message.session_id == event.session_id, Message.wa_message_id.in_(ids)))) if ids else set()
        stored = 0
        for message in sorted(wanted, key=lambda m: m.timestamp):
            if message.message_id in known:
                continue
            known.add(message.message_id)  # a chunk may carry a message twice
            chat, chat_lid = await conversation_of(session, message)
            session.add(message_row(message, row, chat, chat_lid, history=True))
            stored += 1
        times = [m.timestamp for m in wanted]
        summary = {"syncType": event.sync_type, "progress": event.progress, "mode": mode,
                   "received": len(event.messages), "stored": stored, "duplicates": len(wanted) - stored,
                   "skipped": len(event.messages) - len(wanted),
                   "oldest": int(min(times)) if times else None, "newest": int(max(times)) if times else None}
        return row.tenant_id, summary


async def handle_history(db: async_sessionmaker[AsyncSession], redis: Redis, event: HistorySynced) -> None:
    result = await store_history(db, event)
    if result is None:
        return
    tenant_id, summary = result
    log.info("history synced", session_id=event.session_id, **summary)
    await events.publish_durably(redis, tenant_id, events.envelope("history.synced", event.session_id, summary),
                                 log=log, what="history.synced", session_id=event.session_id)
