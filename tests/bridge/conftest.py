"""A real bridge (arq worker on the real Valkey, simulator transport) running in the test's event loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures import make_settings
from tests.workers import InLoopWorker, start_in_loop
from wagate.bridge.runtime import Bridge
from wagate.config import Settings
from wagate.db.enums import MessageStatus, SessionStatus
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Message, WaSession
from wagate.queue.jobs import enqueue_session_command
from wagate.queue.names import events_channel
from wagate.services.identity.credentials import hash_token, new_token
from wagate.transport.simulator import SentMessage, SimulatorTransport
from wagate.web.app import redis_client
from workers.bridge import create_bridge

# Fast but real: gaps long enough to measure, WhatsApp's timings 50 times faster.
BRIDGE_ENV = {"SEND_GAP_MS": "300", "BULK_GAP_MS": "500", "SEND_JITTER_MS": "0", "SIMULATOR_SPEED": "50",
              "TYPING_MS_PER_CHAR": "0"}


@pytest.fixture
def bridge_env() -> dict[str, str]:
    """Settings a test changes on top of BRIDGE_ENV; override with `@pytest.mark.parametrize("bridge_env", …)`."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str, bridge_env: dict[str, str]) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, **{**BRIDGE_ENV, **bridge_env})


class RunningBridge(InLoopWorker):
    """A bridge worker running in the test's loop; `bridge` and `sim` reach inside it."""

    @property
    def bridge(self) -> Bridge:
        return self.worker.ctx["bridge"]

    @property
    def sim(self) -> SimulatorTransport:
        transport = self.bridge.transport
        assert isinstance(transport, SimulatorTransport)
        return transport


async def start_bridge(settings: Settings, shard: int = 0) -> RunningBridge:
    handle = await start_in_loop(create_bridge(settings, shard, handle_signals=False), lambda w: "bridge" in w.ctx)
    return RunningBridge(handle.worker, handle.task)


@pytest.fixture
async def running(settings: Settings) -> AsyncIterator[RunningBridge]:
    handle = await start_bridge(settings)
    yield handle
    await handle.stop()


@pytest.fixture
async def arq_redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    client = redis_client(settings.redis_url or "")
    yield client
    await client.aclose(close_connection_pool=True)


@dataclass
class EventLog:
    """Every event published on a tenant's live channel, in order."""

    items: list[dict[str, Any]] = field(default_factory=list)

    def names(self, session: str | None = None) -> list[str]:
        return [e["event"] for e in self.items if session is None or e["session"] == session]

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            for item in self.items:
                if predicate(item):
                    return item
            await asyncio.sleep(0.02)
        raise AssertionError(f"no such event; seen {self.names()}")


@pytest.fixture
async def event_log(settings: Settings) -> AsyncIterator[EventLog]:
    log = EventLog()
    redis = Redis.from_url(settings.redis_url or "")
    pubsub = redis.pubsub()
    await pubsub.psubscribe(events_channel(None).rsplit(":", 1)[0] + ":*")

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                log.items.append(json.loads(message["data"]))

    task = asyncio.create_task(listen())
    yield log
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await pubsub.aclose()
    await redis.aclose()


async def add_session(db: async_sessionmaker[AsyncSession], session_id: str, *, tenant: int | None = None,
                      status: SessionStatus = SessionStatus.STOPPED, **fields: Any) -> None:
    async with db() as session, session.begin():
        session.add(WaSession(id=session_id, tenant_id=tenant, name=session_id, token_hash=hash_token(new_token()),
                              status=status, **fields))


async def add_tenant(db: async_sessionmaker[AsyncSession], user_id: str = "usr_1", **fields: Any) -> int:
    async with db() as session, session.begin():
        tenant = Tenant(user_id=user_id, source_service="test", **fields)
        session.add(tenant)
        await session.flush()
        return tenant.id


async def wait_status(db: async_sessionmaker[AsyncSession], session_id: str, status: SessionStatus,
                      timeout: float = 10.0) -> WaSession:
    deadline = asyncio.get_running_loop().time() + timeout
    row = None
    while asyncio.get_running_loop().time() < deadline:
        async with db() as session:
            row = await session.scalar(select(WaSession).where(WaSession.id == session_id))
        if row is not None and row.status == status:
            return row
        await asyncio.sleep(0.03)
    raise AssertionError(f"{session_id} is {row.status if row else 'gone'}, not {status}")


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


async def link_session(handle: RunningBridge, db: async_sessionmaker[AsyncSession], redis: ArqRedis,
                       settings: Settings, session_id: str, phone: str = "6281234567890") -> WaSession:
    """Link a session the real way: start command → SCAN_QR_CODE → the phone scans → WORKING and connected."""
    await enqueue_session_command(redis, settings.bridge_shards, session_id, "start")
    await wait_status(db, session_id, SessionStatus.SCAN_QR_CODE)
    await handle.sim.scan(session_id, phone=phone)
    row = await wait_status(db, session_id, SessionStatus.WORKING)
    await until(lambda: handle.sim.is_connected(session_id), what=f"{session_id} connected")
    return row


async def get_message(db: async_sessionmaker[AsyncSession], message_id: int) -> Message:
    async with db() as session:
        row = await session.get(Message, message_id)
    assert row is not None, f"message {message_id} is gone"
    return row


async def wait_message(db: async_sessionmaker[AsyncSession], message_id: int, *statuses: MessageStatus,
                       timeout: float = 10.0) -> Message:
    """The message row once its status is one of `statuses`."""
    deadline = asyncio.get_running_loop().time() + timeout
    row = await get_message(db, message_id)
    while row.status not in statuses:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"message {message_id} is {row.status} ({row.error}), not one of {statuses}")
        await asyncio.sleep(0.02)
        row = await get_message(db, message_id)
    return row


def sent_by(sim: SimulatorTransport, session_id: str) -> list[SentMessage]:
    return [s for s in sim.sent if s.session_id == session_id]
