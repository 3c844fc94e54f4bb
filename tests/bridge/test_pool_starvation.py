"""The bridge's writes wait for a database connection: a pool with none to give never drops a receipt or a message.

Under load the bridge's pool runs dry (every connection busy, "QueuePool limit … reached"); before the bridge
retried, the receipts and incoming messages handled then were logged as failed and lost, their webhooks never
made. Here the pool is made tiny (one connection, 50 ms to get it) and a burst of events arrives at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import add_session
from wagate.bridge.runtime import Bridge
from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import Direction, MessageStatus, MessageType
from wagate.db.models_whatsapp import Message
from wagate.transport.base import MessageReceived, ReceiptReceived, TransportEvent

SESSIONS = [f"pool-{n:02d}" for n in range(12)]
PER_SESSION = 4


@pytest.fixture
async def starved_bridge(settings: Settings) -> AsyncIterator[Bridge]:
    """A bridge (not started: no lease, no sender) whose pool holds one connection and gives up after 50 ms."""
    engine = create_engine(settings, pool_size=1, max_overflow=0, pool_timeout=0.05)
    redis = Redis.from_url(settings.redis_url or "")
    bridge = Bridge(settings, 0, db=create_sessionmaker(engine), redis=redis)
    yield bridge
    await bridge.close()
    await redis.aclose()
    await engine.dispose()


async def sent_messages(db: async_sessionmaker[AsyncSession], session_id: str) -> list[str]:
    async with db() as session, session.begin():
        rows = [Message(session_id=session_id, direction=Direction.OUTBOUND, type=MessageType.TEXT,
                        recipient=f"6285700000{n:03d}", body="halo", status=MessageStatus.SENT,
                        wa_message_id=f"3EB0{session_id}{n}") for n in range(PER_SESSION)]
        session.add_all(rows)
    return [r.wa_message_id or "" for r in rows]


async def test_a_burst_of_receipts_and_messages_waits_for_the_pool_and_loses_nothing(
    starved_bridge: Bridge, db: async_sessionmaker[AsyncSession],
) -> None:
    wa_ids = {}
    for sid in SESSIONS:
        await add_session(db, sid)
        wa_ids[sid] = await sent_messages(db, sid)
    burst: list[TransportEvent] = [ReceiptReceived(session_id=sid, kind="read", chat="6285700000000@s.whatsapp.net",
                             message_ids=tuple(wa_ids[sid]), timestamp=0) for sid in SESSIONS]
    burst += [MessageReceived(session_id=sid, message_id=f"IN{sid}", chat="6281299990000@s.whatsapp.net",
                              sender="6281299990000@s.whatsapp.net", text="masuk", timestamp=0) for sid in SESSIONS]

    await asyncio.wait_for(asyncio.gather(*(starved_bridge.on_event(e) for e in burst)), timeout=120)

    async with db() as session:
        outbound = list(await session.scalars(select(Message.status).where(Message.direction == Direction.OUTBOUND)))
        inbound = [str(i) for i in await session.scalars(select(Message.wa_message_id).where(
            Message.direction == Direction.INBOUND))]
    assert outbound.count(MessageStatus.READ) == len(SESSIONS) * PER_SESSION, outbound
    assert sorted(inbound) == sorted(f"IN{sid}" for sid in SESSIONS)
