"""Fixtures for the service tests: an arq Redis client on the test's Valkey and helpers that arrange rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.services.webhook_receiver import DummyReceiver, listening
from wagate.db.enums import SessionStatus
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Message, WaSession
from wagate.queue.names import bridge_queue


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    """Short timeouts: a test that stops Valkey should fail over in seconds, as the web's client does."""
    client = ArqRedis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    yield client
    await client.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[DummyReceiver]:
    """A webhook receiver listening on 127.0.0.1 for the test."""
    async with listening() as server:
        yield server


@dataclass
class Rows:
    """Arrange and count rows directly, bypassing the services under test."""

    db: async_sessionmaker[AsyncSession]

    async def tenant(self, user_id: str = "usr_001", **values: Any) -> int:
        async with self.db() as s, s.begin():
            tenant = Tenant(user_id=user_id, source_service="genfity-app", **values)
            s.add(tenant)
            await s.flush()
            return tenant.id

    async def session(self, session_id: str = "sales-1", tenant_id: int | None = None,
                      status: SessionStatus = SessionStatus.WORKING, **values: Any) -> str:
        async with self.db() as s, s.begin():
            s.add(WaSession(id=session_id, tenant_id=tenant_id, status=status, token_hash=f"hash-{session_id}",
                            jid="6281100000001@s.whatsapp.net", **values))
        return session_id

    async def messages(self) -> list[Message]:
        async with self.db() as s:
            return list(await s.scalars(select(Message).order_by(Message.id)))

    async def count_messages(self) -> int:
        async with self.db() as s:
            return await s.scalar(select(func.count()).select_from(Message)) or 0

    async def messages_sent(self, tenant_id: int) -> int:
        async with self.db() as s:
            return await s.scalar(select(Tenant.messages_sent).where(Tenant.id == tenant_id)) or 0


@pytest.fixture
def rows(db: async_sessionmaker[AsyncSession]) -> Rows:
    return Rows(db)


async def queued_job_ids(redis: ArqRedis, shards: int) -> dict[int, list[str]]:
    """The job ids waiting on each bridge shard's queue (arq keeps a queue as a sorted set)."""
    found: dict[int, list[str]] = {}
    for shard in range(shards):
        ids = [raw.decode() for raw in await redis.zrange(bridge_queue(shard), 0, -1)]
        if ids:
            found[shard] = ids
    return found
