"""Calls the web waits on, answered by the bridge that drives the session: through a real arq bridge and Redis."""

from __future__ import annotations

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import RunningBridge, add_session, link_session
from wagate.config import Settings
from wagate.errors import Conflict, TransportError
from wagate.services.sessions import calls


async def test_a_call_is_answered_by_the_session_connection_and_refusals_name_their_cause(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
) -> None:
    await add_session(db, "s1")
    try:
        await calls.call(db, arq_redis, settings, "s1", "account")
        raise AssertionError("a call on a STOPPED session was put through")
    except Conflict as exc:
        assert "STOPPED" in exc.message
    await link_session(running, db, arq_redis, settings, "s1", phone="6281234567890")
    answer = await calls.call(db, arq_redis, settings, "s1", "account")
    assert answer["phone"] == "6281234567890" and answer["jid"].startswith("6281234567890")
    try:
        await calls.call(db, arq_redis, settings, "s1", "no_such_call", wait_s=5)
        raise AssertionError("an unknown call was answered")
    except TransportError as exc:
        assert "unknown call 'no_such_call'" in exc.message
