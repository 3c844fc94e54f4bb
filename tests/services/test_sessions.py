"""The web side of sessions against real SQLite, MariaDB and Valkey: rows, tokens, limits, audits and bridge jobs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job, JobDef
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate import session_ids
from wagate.config import Settings
from wagate.db.enums import ActorType, Direction, SessionStatus, TenantStatus
from wagate.db.models_identity import AuditLog, Tenant
from wagate.db.models_whatsapp import Contact, Message, QrCode, WaSession
from wagate.db.types import utcnow
from wagate.errors import Conflict, Forbidden, Invalid, NotFound, OtherTenant
from wagate.queue import jobs
from wagate.queue.names import bridge_queue, qr_key, shard_of
from wagate.services.identity.credentials import hash_token
from wagate.services.sessions import lifecycle
from wagate.services.sessions.lifecycle import Actor

Db = async_sessionmaker[AsyncSession]
SHARDS = 4
ADMIN = Actor(ActorType.USER, 1, "203.0.113.9")


@pytest.fixture
def sharded(settings: Settings) -> Settings:
    """Four bridge shards, so a job on the wrong shard's queue would show."""
    return settings.replace(bridge_shards=SHARDS)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    client = ArqRedis.from_url(redis_url)
    yield client
    await client.aclose()


async def add_tenant(db: Db, user_id: str = "usr_001", **values: Any) -> int:
    async with db() as s, s.begin():
        tenant = Tenant(user_id=user_id, source_service="genfity-app", **values)
        s.add(tenant)
        await s.flush()
        return tenant.id


async def queued_jobs(redis: ArqRedis, shards: int = SHARDS) -> dict[int, list[JobDef]]:
    """Every job waiting on each bridge shard's queue (arq keeps a queue as a sorted set of job ids)."""
    found: dict[int, list[JobDef]] = {}
    for shard in range(shards):
        queue = bridge_queue(shard)
        for job_id in await redis.zrange(queue, 0, -1):
            info = await Job(job_id.decode(), redis, _queue_name=queue).info()
            assert info is not None
            found.setdefault(shard, []).append(info)
    return found


async def only_job(redis: ArqRedis, session_id: str) -> JobDef:
    found = await queued_jobs(redis)
    assert list(found) == [shard_of(session_id, SHARDS)], found
    [job] = found[shard_of(session_id, SHARDS)]
    return job


async def audits(db: Db, action: str | None = None) -> list[AuditLog]:
    query = select(AuditLog).order_by(AuditLog.id)
    if action:
        query = query.where(AuditLog.action == action)
    async with db() as s:
        return list(await s.scalars(query))


async def create(db: Db, redis: ArqRedis, settings: Settings, **values: Any) -> lifecycle.CreatedSession:
    values = {"tenant_id": None, "name": "Marketing", "auto_connect": False, "actor": ADMIN, **values}
    return await lifecycle.create_session(db, redis, settings, **values)


async def test_create_with_a_given_id_keeps_only_the_token_hash(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    tenant_id = await add_tenant(db)
    created = await create(db, redis, sharded, tenant_id=tenant_id, session_id="marketing-1.a_B", auto_connect=False,
                           webhook_url="https://93.184.215.14/hook?token=s3cret", webhook_events="Message,QR")
    assert created.session.id == "marketing-1.a_B"
    assert created.start_job_id is None and await queued_jobs(redis) == {}
    async with db() as s:
        row = await s.get(WaSession, "marketing-1.a_B")
        assert row is not None
        assert row.status == SessionStatus.STOPPED
        assert row.tenant_id == tenant_id
        assert row.token_hash == hash_token(created.token) != created.token
        assert row.webhook_events == ["message.received", "qr.generated"]
        # The plaintext token is in no column of any row the creation wrote.
        for table in ("wa_sessions", "audit_logs"):
            rows = (await s.execute(text(f"SELECT * FROM {table}"))).all()  # noqa: S608 - fixed names
            assert rows and created.token not in repr(rows)
    [entry] = await audits(db, "session.create")
    assert (entry.actor_type, entry.actor_id, entry.ip, entry.tenant_id) == (ActorType.USER, "1", "203.0.113.9",
                                                                            tenant_id)
    assert entry.details is not None
    assert entry.details["webhook_url"] == "https://93.184.215.14/…"  # the query's token is not audited
    assert "s3cret" not in json.dumps(entry.details)


async def test_create_generates_an_id_and_a_distinct_token(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    first = await create(db, redis, sharded)
    second = await create(db, redis, sharded)
    for created in (first, second):
        assert created.session.id.startswith("ses_")
        assert session_ids.is_valid(created.session.id)
    assert first.session.id != second.session.id
    assert first.token != second.token and len(first.token) >= 40


async def test_a_duplicate_id_is_a_conflict(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    await create(db, redis, sharded, session_id="sales")
    with pytest.raises(Conflict, match="sales"):
        await create(db, redis, sharded, session_id="sales", auto_connect=True)
    assert await queued_jobs(redis) == {}
    assert len(await audits(db, "session.create")) == 1


@pytest.mark.parametrize("bad_id", ["", "x" * 65, "has space", "a/b", "caf\u00e9", "semi;colon"])
async def test_a_bad_id_is_invalid(db: Db, redis: ArqRedis, sharded: Settings, bad_id: str) -> None:
    with pytest.raises(Invalid) as raised:
        await create(db, redis, sharded, session_id=bad_id)
    assert "session_id" in raised.value.details
    async with db() as s:
        assert await s.scalar(select(WaSession.id)) is None


async def test_create_validates_name_url_and_events(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    with pytest.raises(Invalid) as raised:
        await create(db, redis, sharded, name="  ", webhook_url="ftp://example.com/x", webhook_events="Message,Bogus")
    assert set(raised.value.details) == {"name", "webhook_url", "webhook_events"}
    assert "Bogus" in raised.value.details["webhook_events"][0]


async def test_max_sessions_is_enforced_per_tenant(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    limited = await add_tenant(db, "usr_limited", max_sessions=2)
    other = await add_tenant(db, "usr_other", max_sessions=1)
    await create(db, redis, sharded, tenant_id=limited)
    await create(db, redis, sharded, tenant_id=limited)
    with pytest.raises(Forbidden, match="allows 2 session") as raised:
        await create(db, redis, sharded, tenant_id=limited, auto_connect=True)
    assert raised.value.details == {"max_sessions": 2, "sessions": 2}
    await create(db, redis, sharded, tenant_id=other)  # another tenant's limit is its own
    assert await queued_jobs(redis) == {}
    assert len(await lifecycle.list_sessions(db, tenant_id=limited)) == 2


async def test_concurrent_creations_never_pass_the_limit(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    tenant_id = await add_tenant(db, max_sessions=1)
    results = await asyncio.gather(*(create(db, redis, sharded, tenant_id=tenant_id) for _ in range(4)),
                                   return_exceptions=True)
    assert sum(isinstance(r, lifecycle.CreatedSession) for r in results) == 1, results
    assert all(isinstance(r, (lifecycle.CreatedSession, Forbidden)) for r in results), results
    assert len(await lifecycle.list_sessions(db, tenant_id=tenant_id)) == 1


@pytest.mark.parametrize("expiry", ["status", "date"])
async def test_an_expired_subscription_is_refused(db: Db, redis: ArqRedis, sharded: Settings, expiry: str) -> None:
    values: dict[str, Any] = (
        {"status": TenantStatus.EXPIRED} if expiry == "status" else {"expires_at": utcnow() - timedelta(minutes=1)}
    )
    tenant_id = await add_tenant(db, **values)
    with pytest.raises(Forbidden, match="expired"):
        await create(db, redis, sharded, tenant_id=tenant_id)
    assert await lifecycle.list_sessions(db) == []


async def test_an_unknown_tenant_is_not_found(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    with pytest.raises(NotFound):
        await create(db, redis, sharded, tenant_id=424242)


async def test_auto_connect_enqueues_one_start_on_the_sessions_shard(
    db: Db, redis: ArqRedis, sharded: Settings
) -> None:
    created = await create(db, redis, sharded, session_id="auto-1", auto_connect=True)
    job = await only_job(redis, "auto-1")
    assert created.start_job_id is not None and created.start_job_id.startswith("cmd:auto-1:start:")
    assert job.function == jobs.SESSION_COMMAND
    assert job.args == ("auto-1", "start", {})


async def test_create_survives_a_redis_outage_without_losing_the_token(db: Db, sharded: Settings) -> None:
    # Nothing listens on port 1: the row is committed, the start is not queued, and the token is still returned.
    down = ArqRedis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5)
    try:
        created = await create(db, down, sharded, session_id="offline", auto_connect=True)
    finally:
        await down.aclose()
    assert created.start_job_id is None and created.token
    assert (await lifecycle.get_session(db, "offline")).token_hash == hash_token(created.token)


@pytest.mark.parametrize("command", ["start", "stop", "restart", "logout", "sync_contacts"])
async def test_commands_are_audited_and_enqueued(db: Db, redis: ArqRedis, sharded: Settings, command: str) -> None:
    tenant_id = await add_tenant(db)
    await create(db, redis, sharded, tenant_id=tenant_id, session_id="cmd-1")
    actor = Actor(ActorType.API_KEY, 7, "198.51.100.4")
    job_id = await lifecycle.request(db, redis, sharded, "cmd-1", command, tenant_id=tenant_id, actor=actor)
    job = await only_job(redis, "cmd-1")
    assert job.function == jobs.SESSION_COMMAND and job.args == ("cmd-1", command, {})
    [entry] = await audits(db, f"session.{command}")
    assert (entry.actor_type, entry.actor_id, entry.target_id, entry.tenant_id) == (
        ActorType.API_KEY, "7", "cmd-1", tenant_id)
    assert entry.details == {"job_id": job_id}


async def test_pair_phone_normalizes_and_checks_the_phone(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    await create(db, redis, sharded, session_id="pair-1")
    for bad in ({}, {"phone": "0812-3456-7890"}, {"phone": "12345"}, {"phone": 6281234567890}, None):
        with pytest.raises(Invalid) as raised:
            await lifecycle.request(db, redis, sharded, "pair-1", "pair_phone", actor=ADMIN, params=bad)
        assert "phone" in raised.value.details
    await lifecycle.request(db, redis, sharded, "pair-1", "pair_phone", actor=ADMIN,
                           params={"phone": "+62 812-3456-7890"})
    job = await only_job(redis, "pair-1")
    assert job.args == ("pair-1", "pair_phone", {"phone": "6281234567890"})
    [entry] = await audits(db, "session.pair_phone")
    assert entry.details is not None and entry.details["phone"] == "6281234567890"


async def test_commands_check_ownership_and_the_command(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    mine = await add_tenant(db, "usr_mine")
    theirs = await add_tenant(db, "usr_theirs")
    await create(db, redis, sharded, tenant_id=theirs, session_id="theirs-1")
    with pytest.raises(NotFound):
        await lifecycle.request(db, redis, sharded, "nope", "start", tenant_id=mine, actor=ADMIN)
    with pytest.raises(OtherTenant):
        await lifecycle.request(db, redis, sharded, "theirs-1", "start", tenant_id=mine, actor=ADMIN)
    with pytest.raises(Invalid):
        await lifecycle.request(db, redis, sharded, "theirs-1", "delete", tenant_id=theirs, actor=ADMIN)
    with pytest.raises(OtherTenant):
        await lifecycle.get_session(db, "theirs-1", tenant_id=mine)
    assert await queued_jobs(redis) == {}
    assert [e.action for e in await audits(db)] == ["session.create"]
    # An install-wide caller (tenant_id None) may act on every session.
    await lifecycle.request(db, redis, sharded, "theirs-1", "stop", actor=ADMIN)
    assert (await only_job(redis, "theirs-1")).args[1] == "stop"


async def test_an_expired_tenant_may_stop_but_not_start(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    tenant_id = await add_tenant(db)
    await create(db, redis, sharded, tenant_id=tenant_id, session_id="exp-1")
    async with db() as s, s.begin():
        tenant = await s.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.status = TenantStatus.EXPIRED
    for command in ("start", "restart"):
        with pytest.raises(Forbidden, match="expired"):
            await lifecycle.request(db, redis, sharded, "exp-1", command, tenant_id=tenant_id, actor=ADMIN)
    await lifecycle.request(db, redis, sharded, "exp-1", "stop", tenant_id=tenant_id, actor=ADMIN)
    assert [job.args[1] for job in (await queued_jobs(redis)).popitem()[1]] == ["stop"]


async def test_delete_keeps_messages_and_asks_the_bridge_to_unlink(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    tenant_id = await add_tenant(db)
    await create(db, redis, sharded, tenant_id=tenant_id, session_id="gone-1")
    await create(db, redis, sharded, tenant_id=tenant_id, session_id="stays-1")
    async with db() as s, s.begin():
        for session_id in ("gone-1", "stays-1"):
            s.add(Message(session_id=session_id, direction=Direction.OUTBOUND, recipient="6281234567890", body="hi"))
            s.add(Contact(session_id=session_id, jid="6281234567890@s.whatsapp.net"))
            s.add(QrCode(session_id=session_id, code_hash="0" * 64))
    with pytest.raises(OtherTenant):
        await lifecycle.delete_session(db, redis, sharded, "gone-1", tenant_id=tenant_id + 1, actor=ADMIN)
    job_id = await lifecycle.delete_session(db, redis, sharded, "gone-1", tenant_id=tenant_id, actor=ADMIN)
    assert job_id.startswith("cmd:gone-1:delete:")
    assert (await only_job(redis, "gone-1")).args == ("gone-1", "delete", {})
    async with db() as s:
        assert await s.get(WaSession, "gone-1") is None
        messages = (await s.execute(select(Message.session_id, Message.body).order_by(Message.id))).all()
        assert [tuple(m) for m in messages] == [(None, "hi"), ("stays-1", "hi")]
        assert list(await s.scalars(select(Contact.session_id))) == ["stays-1"]
        assert list(await s.scalars(select(QrCode.session_id))) == ["stays-1"]
    [entry] = await audits(db, "session.delete")
    assert entry.target_id == "gone-1" and entry.tenant_id == tenant_id
    with pytest.raises(NotFound):
        await lifecycle.delete_session(db, redis, sharded, "gone-1", actor=ADMIN)


async def test_update_settings_validates_and_audits_the_changes(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    tenant_id = await add_tenant(db)
    await create(db, redis, sharded, tenant_id=tenant_id, session_id="set-1")
    row = await lifecycle.update_settings(db, "set-1", {
        "name": " Support ", "auto_read_enabled": True, "typing_enabled": False,
        "webhook_url": "http://93.184.215.14:8080/wa?key=abc", "webhook_events": ["message.received", "Connected"],
    }, settings=sharded, tenant_id=tenant_id, actor=ADMIN)
    assert (row.name, row.auto_read_enabled, row.typing_enabled) == ("Support", True, False)
    assert row.webhook_events == ["message.received", "connection.open"]
    [entry] = await audits(db, "session.update")
    # typing_enabled was already False: only what changed is recorded, and the URL without its key.
    assert entry.details == {"changed": {
        "name": "Support", "auto_read_enabled": True, "webhook_url": "http://93.184.215.14:8080/…",
        "webhook_events": ["message.received", "connection.open"],
    }}
    row = await lifecycle.update_settings(db, "set-1", {"webhook_events": "All"}, settings=sharded, actor=ADMIN)
    assert row.webhook_events == ["*"]
    row = await lifecycle.update_settings(db, "set-1", {"webhook_url": None}, settings=sharded, actor=ADMIN)
    assert row.webhook_url is None

    bad: list[tuple[dict[str, Any], str]] = [
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"webhook_url": "https:///no-host"}, "webhook_url"),
        ({"webhook_events": "message.received,nonsense"}, "webhook_events"),
        ({"webhook_events": []}, "webhook_events"),
        ({"webhook_events": [1, 2]}, "webhook_events"),
        ({"auto_read_enabled": "yes"}, "auto_read_enabled"),
        ({"name": ""}, "name"),
        ({"status": "WORKING"}, "status"),  # the bridge's alone
        ({"token_hash": "x"}, "token_hash"),
    ]
    for changes, field in bad:
        with pytest.raises(Invalid) as raised:
            await lifecycle.update_settings(db, "set-1", changes, settings=sharded, actor=ADMIN)
        assert field in raised.value.details, changes
    after = await lifecycle.get_session(db, "set-1")
    assert (after.name, after.webhook_events, after.status) == ("Support", ["*"], SessionStatus.STOPPED)
    with pytest.raises(OtherTenant):
        await lifecycle.update_settings(db, "set-1", {"name": "x"}, settings=sharded, tenant_id=tenant_id + 1,
                                       actor=ADMIN)


async def test_rotate_token_replaces_the_hash(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    created = await create(db, redis, sharded, session_id="rot-1")
    token = await lifecycle.rotate_token(db, "rot-1", actor=ADMIN)
    assert token != created.token
    async with db() as s:
        hashes = list(await s.scalars(select(WaSession.token_hash)))
    assert hashes == [hash_token(token)]
    [entry] = await audits(db, "session.token_rotate")
    assert entry.details is None or token not in json.dumps(entry.details)


async def test_list_sessions_filters_by_tenant_and_status(db: Db, redis: ArqRedis, sharded: Settings) -> None:
    one = await add_tenant(db, "usr_1")
    two = await add_tenant(db, "usr_2")
    for session_id, tenant_id in (("a-1", one), ("a-2", one), ("b-1", two)):
        await create(db, redis, sharded, tenant_id=tenant_id, session_id=session_id)
    async with db() as s, s.begin():  # what the bridge would write
        row = await s.get(WaSession, "a-2")
        assert row is not None
        row.status = SessionStatus.WORKING
    assert {r.id for r in await lifecycle.list_sessions(db)} == {"a-1", "a-2", "b-1"}
    assert {r.id for r in await lifecycle.list_sessions(db, tenant_id=one)} == {"a-1", "a-2"}
    assert [r.id for r in await lifecycle.list_sessions(db, tenant_id=one, status="WORKING")] == ["a-2"]
    assert [r.id for r in await lifecycle.list_sessions(db, status=SessionStatus.STOPPED)] in (["a-1", "b-1"],
                                                                                              ["b-1", "a-1"])
    with pytest.raises(Invalid):
        await lifecycle.list_sessions(db, status="CONNECTED")


async def test_current_qr_reads_the_bridges_key(redis: ArqRedis) -> None:
    assert await lifecycle.current_qr(redis, "qr-1") is None
    value = {"code": "2@abc,def,ghi", "expires_at": "2030-01-01T00:00:20+00:00"}
    await redis.set(qr_key("qr-1"), json.dumps(value), px=20_000)
    assert qr_key("qr-1") == "wagate:qr:qr-1"
    assert await lifecycle.current_qr(redis, "qr-1") == value
    assert await lifecycle.current_qr(redis, "qr-2") is None
    await redis.set(qr_key("qr-2"), b"not json")
    assert await lifecycle.current_qr(redis, "qr-2") is None
