"""Calls to a session's live connection that the web waits on: a group's members, a profile picture, a chat's
presence. The bridge that drives the session answers (`wagate.bridge.calls`); the session must be WORKING.
"""

from __future__ import annotations

from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.errors import Conflict
from wagate.queue.jobs import enqueue_session_call
from wagate.services.sessions import lifecycle
from wagate.services.sessions.connecting import COMMAND_WAIT_S, command_result


async def call(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, session_id: str,
               name: str, params: dict[str, Any] | None = None, *, wait_s: float = COMMAND_WAIT_S) -> Any:
    """The answer of the call `name` on the session's connection; `Conflict` (409) when the session is not
    WORKING, `TransportError` when WhatsApp or the bridge refused it or did not answer within `wait_s`."""
    row = await lifecycle.get_session(db, session_id)
    if row.status != SessionStatus.WORKING:
        raise Conflict(f"Session is {row.status}, not WORKING: connect it first", {"status": str(row.status)})
    job_id = await enqueue_session_call(redis, settings.bridge_shards, session_id, name, params)
    return await command_result(redis, settings, session_id, job_id, wait_s)
