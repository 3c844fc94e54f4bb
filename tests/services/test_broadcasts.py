"""Broadcast service: create and preview, limits, chunked expansion that never doubles a message, pause, cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.services.conftest import Rows
from wagate.config import Settings
from wagate.db.enums import ActorType, BroadcastStatus, MessageStatus, Priority, RecipientStatus, SessionStatus
from wagate.db.models_delivery import Broadcast, BroadcastRecipient
from wagate.db.models_identity import AuditLog, Tenant
from wagate.db.models_whatsapp import Message
from wagate.db.types import utcnow
from wagate.errors import Conflict, Forbidden, Invalid, OtherTenant
from wagate.queue.jobs import broadcast_expand_job_id
from wagate.services.broadcasts import campaigns
from wagate.services.broadcasts.campaigns import BroadcastRequest
from wagate.services.broadcasts.progress import expand_chunk, progress_of, refresh, tick
from wagate.services.broadcasts.recipients import from_csv, from_records
from wagate.services.sessions.lifecycle import Actor

ACTOR = Actor(ActorType.API_KEY, "7", "127.0.0.1")


def people(n: int, start: int = 0) -> list[dict[str, str]]:
    return [{"phone": f"0812{10000000 + start + i}", "name": f"Orang {start + i}", "kota": "Bandung"}
            for i in range(n)]


def request(n: int = 3, template: str = "Halo {name} dari {kota}", **fields: object) -> BroadcastRequest:
    return BroadcastRequest(session_id=str(fields.pop("session_id", "sales-1")), name="Promo",
                            template=template, recipients=from_records(people(n), "ID"), **fields)  # type: ignore[arg-type]


async def create(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, req: BroadcastRequest,
                 tenant_id: int | None = None, **kw: object) -> Broadcast:
    broadcast, _ = await campaigns.create_broadcast(db, redis, settings, req, tenant_id=tenant_id, actor=ACTOR,
                                                     **kw)  # type: ignore[arg-type]
    return broadcast


async def broadcast_messages(db: async_sessionmaker[AsyncSession], broadcast_id: int) -> list[Message]:
    async with db() as s:
        return list(await s.scalars(select(Message).where(Message.broadcast_id == broadcast_id).order_by(Message.id)))


async def test_preview_renders_and_creates_nothing(rows: Rows) -> None:
    data = b"nomor;nama;kota\n08123456789;Budi;Bandung\nxx;Bad;Solo\n08123456789;Again;Solo\n"
    preview = campaigns.preview_broadcast(BroadcastRequest(
        session_id="sales-1", name="Promo", template="Halo {name} di {kota} {{ok}}", recipients=from_csv(data, "ID")))
    assert preview.total == 1 and preview.variables == ["kota", "name"]
    assert preview.samples == [
        {"line": 2, "phone": "628123456789", "name": "Budi", "text": "Halo Budi di Bandung {ok}"}]
    assert [r["line"] for r in preview.invalid] == [3] and preview.duplicates[0]["first_line"] == 2
    assert await rows.count_messages() == 0
    async with rows.db() as s:
        assert await s.scalar(select(func.count()).select_from(Broadcast)) == 0


async def test_unknown_variables_are_listed(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
                                            settings: Settings, rows: Rows) -> None:
    await rows.session()
    with pytest.raises(Invalid) as caught:
        await create(db, arq_redis, settings, request(template="Halo {name}, {voucher} {kode}"))
    assert "{kode}, {voucher}" in caught.value.details["template"]
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Broadcast)) == 0


async def test_create_writes_recipients_and_expands_in_chunks(db: async_sessionmaker[AsyncSession],
                                                              arq_redis: ArqRedis, settings: Settings,
                                                              rows: Rows) -> None:
    tenant = await rows.tenant(max_messages=1000)
    await rows.session(tenant_id=tenant)
    broadcast = await create(db, arq_redis, settings, request(120), tenant_id=tenant)
    assert broadcast.status == BroadcastStatus.RUNNING and broadcast.total_count == 120
    assert await arq_redis.exists(job_key_prefix + broadcast_expand_job_id(broadcast.id, 0))
    assert await rows.messages_sent(tenant) == 0  # charged per chunk, when its messages are written

    first = await expand_chunk(db, arq_redis, settings, broadcast.id)
    assert (first.expanded, first.next_position, first.more) == (50, 50, True)
    assert await rows.messages_sent(tenant) == 50
    assert await arq_redis.exists(job_key_prefix + broadcast_expand_job_id(broadcast.id, 50))
    again = await expand_chunk(db, arq_redis, settings, broadcast.id)  # the next chunk
    assert again.next_position == 100
    last = await expand_chunk(db, arq_redis, settings, broadcast.id)
    assert (last.expanded, last.next_position, last.more) == (20, 120, False)
    assert (await expand_chunk(db, arq_redis, settings, broadcast.id)).expanded == 0

    messages = await broadcast_messages(db, broadcast.id)
    assert len(messages) == 120 and await rows.messages_sent(tenant) == 120
    assert {m.priority for m in messages} == {Priority.BULK} and {m.status for m in messages} == {MessageStatus.QUEUED}
    assert messages[0].body == "Halo Orang 0 dari Bandung" and messages[0].recipient == "6281210000000"
    async with db() as s:
        recipients = list(await s.scalars(select(BroadcastRecipient).order_by(BroadcastRecipient.position)))
        audit = await s.scalar(select(AuditLog).where(AuditLog.action == "broadcast.create"))
    assert [r.message_id for r in recipients] == [m.id for m in messages]
    assert audit is not None and audit.details is not None and audit.details["recipients"] == 120


async def test_a_chunk_that_runs_twice_or_after_a_crash_never_doubles(db: async_sessionmaker[AsyncSession],
                                                                      arq_redis: ArqRedis, settings: Settings,
                                                                      rows: Rows) -> None:
    await rows.session()
    broadcast = await create(db, arq_redis, settings, request(60))
    await expand_chunk(db, arq_redis, settings, broadcast.id)
    # The worker died after the commit: Redis lost every job, the next chunk's included.
    await arq_redis.flushall()
    rerun = await expand_chunk(db, arq_redis, settings, broadcast.id)  # arq runs the same job again…
    assert rerun.expanded == 10
    await arq_redis.flushall()
    report = await tick(db, arq_redis, settings)  # …and the tick has nothing left to resume
    assert report["resumed"] == 0
    messages = await broadcast_messages(db, broadcast.id)
    assert len(messages) == 60 and len({m.recipient for m in messages}) == 60


async def test_the_tick_replaces_a_lost_chunk_job(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
                                                  settings: Settings, rows: Rows) -> None:
    await rows.session()
    broadcast = await create(db, arq_redis, settings, request(70))
    await expand_chunk(db, arq_redis, settings, broadcast.id)
    await arq_redis.flushall()
    assert (await tick(db, arq_redis, settings))["resumed"] == 1
    assert await arq_redis.exists(job_key_prefix + broadcast_expand_job_id(broadcast.id, 50))
    assert (await tick(db, arq_redis, settings))["resumed"] == 0  # already there: not doubled
    # A job held by a killed worker (still in Redis) is run anew once the broadcast has stalled.
    assert (await tick(db, arq_redis, settings, stall_after=timedelta(0)))["resumed"] == 1


async def test_limits_refuse_before_anything_is_written(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
                                                        settings: Settings, rows: Rows) -> None:
    small = await rows.tenant("usr_small", max_messages=10, messages_sent=8)
    expired = await rows.tenant("usr_old", expires_at=utcnow() - timedelta(days=1))
    await rows.session("small", tenant_id=small)
    await rows.session("old", tenant_id=expired)
    await rows.session("down", status=SessionStatus.STOPPED)
    with pytest.raises(Forbidden, match="only 2 messages left"):
        await create(db, arq_redis, settings, request(3, session_id="small"), tenant_id=small)
    with pytest.raises(Forbidden, match="expired"):
        await create(db, arq_redis, settings, request(1, session_id="old"), tenant_id=expired)
    with pytest.raises(OtherTenant, match="Session not found"):
        await create(db, arq_redis, settings, request(1, session_id="small"), tenant_id=expired)
    with pytest.raises(Invalid) as caught:
        await create(db, arq_redis, settings, request(5), max_recipients=4)
    assert "at most 4" in caught.value.details["recipients"]
    with pytest.raises(Conflict, match="not WORKING"):
        await create(db, arq_redis, settings, request(1, session_id="down"))
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(Broadcast)) == 0
        assert await s.scalar(select(func.count()).select_from(BroadcastRecipient)) == 0


async def test_running_out_of_messages_mid_way_stops_the_broadcast(db: async_sessionmaker[AsyncSession],
                                                                    arq_redis: ArqRedis, settings: Settings,
                                                                    rows: Rows) -> None:
    tenant = await rows.tenant(max_messages=100)
    await rows.session(tenant_id=tenant)
    broadcast = await create(db, arq_redis, settings, request(80), tenant_id=tenant)
    await expand_chunk(db, arq_redis, settings, broadcast.id)
    async with db() as s, s.begin():  # single sends used the rest meanwhile
        await s.execute(update(Tenant).where(Tenant.id == tenant).values(messages_sent=Tenant.messages_sent + 40))
    assert (await expand_chunk(db, arq_redis, settings, broadcast.id)).expanded == 0
    async with db() as s:
        row = await s.get(Broadcast, broadcast.id)
        skipped = list(await s.scalars(select(BroadcastRecipient.error).where(
            BroadcastRecipient.status == RecipientStatus.SKIPPED)))
    assert row is not None and row.status == BroadcastStatus.FAILED
    assert len(skipped) == 30 and skipped[0] is not None and skipped[0].startswith("message limit reached")
    assert await rows.messages_sent(tenant) == 90


async def test_pause_holds_resume_releases_cancel_fails_the_rest(db: async_sessionmaker[AsyncSession],
                                                                 arq_redis: ArqRedis, settings: Settings,
                                                                 rows: Rows) -> None:
    await rows.session()
    broadcast = await create(db, arq_redis, settings, request(60))
    await expand_chunk(db, arq_redis, settings, broadcast.id)
    await campaigns.pause_broadcast(db, broadcast.id, None, ACTOR)
    assert (await expand_chunk(db, arq_redis, settings, broadcast.id)).expanded == 0  # no expansion while paused
    held = await broadcast_messages(db, broadcast.id)
    assert len(held) == 50 and {m.send_at for m in held} == {campaigns.HOLD}
    with pytest.raises(Conflict):
        await campaigns.pause_broadcast(db, broadcast.id, None, ACTOR)

    await campaigns.resume_broadcast(db, arq_redis, broadcast.id, None, ACTOR, shards=settings.bridge_shards)
    assert {m.send_at for m in await broadcast_messages(db, broadcast.id)} == {None}
    assert (await expand_chunk(db, arq_redis, settings, broadcast.id)).expanded == 10

    async with db() as s, s.begin():  # the bridge sent five of them
        first = [m.id for m in await broadcast_messages(db, broadcast.id)][:5]
        await s.execute(update(Message).where(Message.id.in_(first)).values(status=MessageStatus.SENT))
    await campaigns.cancel_broadcast(db, broadcast.id, None, ACTOR)
    statuses = [m.status for m in await broadcast_messages(db, broadcast.id)]
    assert statuses.count(MessageStatus.SENT) == 5 and statuses.count(MessageStatus.FAILED) == 55
    async with db() as s:
        progress = await progress_of(s, broadcast.id)
    assert (progress.total, progress.waiting, progress.sent, progress.failed) == (60, 0, 5, 55)
    await refresh(db, arq_redis, broadcast.id)
    await refresh(db, arq_redis, broadcast.id)
    async with db() as s:
        row = await s.get(Broadcast, broadcast.id)
        failed = await s.scalar(select(func.count()).select_from(BroadcastRecipient).where(
            BroadcastRecipient.status == RecipientStatus.FAILED, BroadcastRecipient.error == "broadcast cancelled"))
    assert row is not None and row.status == BroadcastStatus.CANCELLED and row.completed_event_sent
    assert (row.sent_count, row.failed_count, row.pending_count) == (5, 55, 0) and failed == 55


async def test_a_scheduled_broadcast_starts_on_the_tick(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis,
                                                        settings: Settings, rows: Rows) -> None:
    await rows.session(status=SessionStatus.STOPPED)  # may be linked by the time it starts
    broadcast = await create(db, arq_redis, settings, request(2, start_at=utcnow() + timedelta(hours=1)))
    assert broadcast.status == BroadcastStatus.SCHEDULED
    assert (await tick(db, arq_redis, settings))["started"] == 0
    async with db() as s, s.begin():
        await s.execute(update(Broadcast).values(start_at=utcnow() - timedelta(seconds=1)))
    assert (await tick(db, arq_redis, settings))["started"] == 1
    assert await arq_redis.exists(job_key_prefix + broadcast_expand_job_id(broadcast.id, 0))
    async with db() as s:
        assert (await s.get(Broadcast, broadcast.id)).status == BroadcastStatus.RUNNING  # type: ignore[union-attr]
