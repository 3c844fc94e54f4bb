"""The send intake against real SQLite, MariaDB and Valkey: sends that arrive together are written together, and
each still gets exactly the answer `queue_message` would give it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.services.conftest import Rows, queued_job_ids
from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import MessageStatus, SessionStatus, TenantStatus
from wagate.errors import Conflict, Forbidden, Invalid, NotFound
from wagate.queue.names import shard_of
from wagate.schemas.messages import MessageSchema
from wagate.services.messaging.drafts import SendRequest
from wagate.services.messaging.intake import SendIntake

PHONE = "0812-3456-{:04d}"


def send(session_id: str, n: int, **changes: Any) -> SendRequest:
    return SendRequest(**{"session_id": session_id, "to": PHONE.format(n), "text": f"Pesan {n}", **changes})


class InsertCounter:
    """Counts the INSERT statements into `messages` an engine executes (one per batch, not one per send)."""

    def __init__(self) -> None:
        self.inserts = 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            self.inserts += 1


@pytest.fixture
async def counted(settings: Settings) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], InsertCounter]]:
    engine = create_engine(settings)
    counter = InsertCounter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    yield create_sessionmaker(engine), counter
    await engine.dispose()


@pytest.fixture
async def intake(counted: tuple[async_sessionmaker[AsyncSession], InsertCounter], arq_redis: ArqRedis,
                 settings: Settings) -> AsyncIterator[SendIntake]:
    intake = SendIntake(counted[0], arq_redis, settings.replace(bridge_shards=2))
    yield intake
    await intake.close()


async def test_sends_arriving_together_are_written_together_and_each_answered(
    intake: SendIntake, counted: tuple[Any, InsertCounter], rows: Rows, arq_redis: ArqRedis,
) -> None:
    tenant = await rows.tenant(max_messages=1000)
    await rows.session("a", tenant)
    await rows.session("b")
    answers = await asyncio.gather(*(intake.submit(send("a" if n % 2 else "b", n), tenant_id=None)
                                     for n in range(39)),
                                   intake.submit(send("b", 39, type="location", text=None, latitude=-6.1754,
                                                      longitude=106.8272, location_name="Monas")))

    stored = await rows.messages()
    *texts, place = answers
    assert [m.content for m in stored if m.id == place.message.id] == [
        {"latitude": -6.1754, "longitude": 106.8272, "name": "Monas"}]
    assert {m.content for m in stored if m.id != place.message.id} == {None}
    assert sorted(m.id for m in stored) == sorted(a.message.id for a in answers)
    assert all(a.created and a.enqueued for a in answers)
    assert {(a.message.session_id, a.message.body) for a in texts} == {
        ("a" if n % 2 else "b", f"Pesan {n}") for n in range(39)}
    assert all(m.status == MessageStatus.QUEUED for m in stored)
    # Each answer (built from the written values, not read back) is what the API would show of the stored row.
    by_id = {m.id: m for m in stored}
    assert [MessageSchema().dump(a.message) for a in answers] == [
        MessageSchema().dump(by_id[a.message.id]) for a in answers]
    # All 40 were waiting when the writer first ran: one INSERT for all of them.
    assert counted[1].inserts == 1
    assert await rows.messages_sent(tenant) == 19  # the odd ones, on "a"
    # Pacing is on (1 s gap): one job per row, spread per session, so both sessions' first jobs are due now.
    jobs = await queued_job_ids(arq_redis, 2)
    assert sorted(j for ids in jobs.values() for j in ids) == sorted(f"send:{m.id}" for m in stored)
    assert set(jobs) <= {shard_of("a", 2), shard_of("b", 2)}


async def test_each_refusal_in_a_batch_is_its_own_and_writes_nothing(intake: SendIntake, rows: Rows) -> None:
    mine, theirs = await rows.tenant("usr_mine"), await rows.tenant("usr_theirs")
    await rows.session("ok", mine)
    await rows.session("down", mine, status=SessionStatus.STOPPED)
    await rows.session("other", theirs)
    expired = await rows.tenant("usr_expired", status=TenantStatus.EXPIRED)
    await rows.session("lapsed", expired)
    results = await asyncio.gather(
        intake.submit(send("ok", 1), tenant_id=mine),
        intake.submit(send("missing", 2), tenant_id=mine),
        intake.submit(send("other", 3), tenant_id=mine),
        intake.submit(send("down", 4), tenant_id=mine),
        intake.submit(send("ok", 5, to="12"), tenant_id=mine),
        intake.submit(send("lapsed", 6)),
        intake.submit(send("ok", 7), tenant_id=mine),
        return_exceptions=True,
    )
    kinds = [type(r).__name__ if isinstance(r, Exception) else "queued" for r in results]
    assert kinds == ["queued", "NotFound", "OtherTenant", "Conflict", "Invalid", "Forbidden", "queued"]
    assert isinstance(results[1], NotFound) and isinstance(results[2], NotFound)  # another tenant's: not found
    assert isinstance(results[3], Conflict) and "STOPPED" in results[3].message
    assert isinstance(results[4], Invalid) and "to" in (results[4].details or {})
    assert "expired" in str(results[5]).lower()
    assert [m.body for m in await rows.messages()] == ["Pesan 1", "Pesan 7"]
    assert await rows.messages_sent(mine) == 2


async def test_a_tenant_reaching_its_limit_inside_a_batch_gets_exactly_its_limit(intake: SendIntake,
                                                                                  rows: Rows) -> None:
    tenant = await rows.tenant(max_messages=5)
    await rows.session("small", tenant)
    results = await asyncio.gather(*(intake.submit(send("small", n), tenant_id=tenant) for n in range(12)),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 7 and all(isinstance(r, Forbidden) and "limit" in r.message for r in refused)
    assert await rows.count_messages() == 5
    assert await rows.messages_sent(tenant) == 5


async def test_a_caller_that_goes_away_does_not_lose_its_send(intake: SendIntake, rows: Rows) -> None:
    await rows.session("s")
    first = asyncio.create_task(intake.submit(send("s", 1)))
    second = asyncio.create_task(intake.submit(send("s", 2)))
    await asyncio.sleep(0)
    second.cancel()
    await intake.close()
    assert (await first).created
    with pytest.raises(asyncio.CancelledError):
        await second
    assert sorted(m.body or "" for m in await rows.messages()) == ["Pesan 1", "Pesan 2"]


async def test_a_database_failure_reaches_every_waiting_send(tmp_path: Path, arq_redis: ArqRedis,
                                                             settings: Settings) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'wagate.db'}")
    intake = SendIntake(create_sessionmaker(engine), arq_redis, settings)
    try:
        results = await asyncio.gather(*(intake.submit(send("s", n)) for n in range(5)), return_exceptions=True)
        assert all(isinstance(r, OperationalError) for r in results), results
        # The intake is not stuck: a later send is tried again (and fails the same way, answered).
        with pytest.raises(OperationalError):
            await intake.submit(send("s", 9))
    finally:
        await intake.close()
        await engine.dispose()
