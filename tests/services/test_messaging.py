"""Sending against real SQLite, MariaDB and Valkey: one row and one job per send, nothing at all per refusal."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job
from sqlalchemy import update

from tests.servers import ValkeyProcess
from tests.services.conftest import Rows, queued_job_ids
from tests.services.test_media import ELF, HTML, PDF, PNG
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, MessageType, Priority, SessionStatus, TenantStatus
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    OtherTenant,
    PayloadTooLarge,
    UnsupportedMediaType,
    WAGateError,
)
from wagate.queue.names import bridge_queue, shard_of
from wagate.services.messaging import sending
from wagate.services.messaging.outbox import sweep_outbox
from wagate.services.messaging.sending import MessageFilters, SendRequest

SHARDS = 4
SESSION = "sales-1"
PHONE = "0812-3456-7890"
DIGITS = "6281234567890"


@pytest.fixture
def sharded(settings: Settings) -> Settings:
    """Four bridge shards, so a job on the wrong shard's queue would show; uploads capped at 1 MB."""
    return settings.replace(bridge_shards=SHARDS, max_upload_mb=1)


@pytest.fixture
async def tenant_id(rows: Rows) -> int:
    tenant = await rows.tenant(max_messages=100)
    await rows.session(SESSION, tenant)
    return tenant


def text(to: str = PHONE, **changes: Any) -> SendRequest:
    return SendRequest(**{"session_id": SESSION, "to": to, "text": "Halo dari WA-Gate", **changes})


def uploaded_files(settings: Settings) -> list[Path]:
    return [p for p in settings.upload_dir.rglob("*") if p.is_file()] if settings.upload_dir.exists() else []


async def test_a_text_send_writes_one_queued_row_and_one_job(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                            rows: Rows, tenant_id: int) -> None:
    result = await sending.queue_message(db, arq_redis, sharded, text(priority="urgent"), tenant_id=tenant_id)

    assert result.created and result.enqueued
    [row] = await rows.messages()
    assert row.id == result.message.id
    assert (row.session_id, row.direction, row.status, row.type, row.priority) == (
        SESSION, Direction.OUTBOUND, MessageStatus.QUEUED, MessageType.TEXT, Priority.URGENT)
    assert (row.recipient, row.chat_jid, row.body) == (DIGITS, f"{DIGITS}@s.whatsapp.net", "Halo dari WA-Gate")
    assert row.send_at is None and row.media_path is None and row.idempotency_key is None
    assert await queued_job_ids(arq_redis, SHARDS) == {shard_of(SESSION, SHARDS): [f"send:{row.id}"]}
    info = await Job(f"send:{row.id}", arq_redis, _queue_name=bridge_queue(shard_of(SESSION, SHARDS))).info()
    assert info is not None and (info.function, info.args) == ("send_message", (SESSION, row.id))
    assert await rows.messages_sent(tenant_id) == 1


async def test_an_image_is_stored_under_its_sniffed_kind(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                         rows: Rows, tenant_id: int) -> None:
    request = SendRequest(session_id=SESSION, to=PHONE, type="image", media=PNG, file_name="liburan.jpg",
                          caption="Foto liburan")
    result = await sending.queue_message(db, arq_redis, sharded, request)

    row = result.message
    assert (row.type, row.media_mime, row.media_name, row.caption, row.body) == (
        MessageType.IMAGE, "image/png", "liburan.png", "Foto liburan", None)
    [file] = uploaded_files(sharded)
    assert str(file) == row.media_path and file.read_bytes() == PNG
    assert file.parent.parent.parent == (sharded.upload_dir / "media").absolute()


async def test_an_image_may_go_as_a_document_and_a_location_keeps_its_coordinates(
        db: Any, arq_redis: ArqRedis, sharded: Settings, rows: Rows, tenant_id: int) -> None:
    document = await sending.queue_message(db, arq_redis, sharded, SendRequest(
        session_id=SESSION, to=PHONE, type="document", media=PNG, file_name="scan.png"))
    location = await sending.queue_message(db, arq_redis, sharded, SendRequest(
        session_id=SESSION, to=PHONE, type="location", latitude=-6.2, longitude=106.816666,
        location_name="Monas", address="Jakarta Pusat"))

    assert (document.message.type, document.message.media_mime) == (MessageType.DOCUMENT, "image/png")
    assert location.message.content == {"latitude": -6.2, "longitude": 106.816666, "name": "Monas",
                                        "address": "Jakarta Pusat"}
    stored = {m.id: m for m in await rows.messages()}
    assert stored[location.message.id].content == location.message.content
    assert len(await queued_job_ids(arq_redis, SHARDS)) == 1 and await arq_redis.zcard(
        bridge_queue(shard_of(SESSION, SHARDS))) == 2


async def test_a_scheduled_send_defers_its_job_to_send_at(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                          rows: Rows, tenant_id: int) -> None:
    send_at = (utcnow() + timedelta(hours=2)).astimezone(UTC)
    result = await sending.queue_message(db, arq_redis, sharded, text(send_at=send_at))

    [row] = await rows.messages()
    assert row.send_at == send_at
    score = await arq_redis.zscore(bridge_queue(shard_of(SESSION, SHARDS)), f"send:{result.message.id}")
    assert score == pytest.approx(send_at.timestamp() * 1000, abs=2)


Arrange = Callable[[Rows, Any], Awaitable[None]]


async def _nothing(rows: Rows, db: Any) -> None:
    return None


async def _session_status(rows: Rows, db: Any, status: SessionStatus = SessionStatus.SCAN_QR_CODE) -> None:
    async with db() as s, s.begin():
        await s.execute(update(WaSession).values(status=status))


async def _tenant(rows: Rows, db: Any, **values: Any) -> None:
    async with db() as s, s.begin():
        await s.execute(update(Tenant).values(**values))


def _past() -> datetime:
    return utcnow() - timedelta(minutes=5)


REFUSALS: list[tuple[str, Arrange, dict[str, Any], type[WAGateError], str]] = [
    ("unknown session", _nothing, {"session_id": "nope"}, NotFound, "Session not found"),
    ("another tenant's session", _nothing, {"_tenant": "other"}, OtherTenant, "Session not found"),
    ("session not WORKING", _session_status, {}, Conflict, "SCAN_QR_CODE"),
    ("subscription status expired", lambda r, d: _tenant(r, d, status=TenantStatus.EXPIRED), {}, Forbidden,
     "Subscription expired"),
    ("subscription expires_at passed", lambda r, d: _tenant(r, d, expires_at=_past()), {}, Forbidden,
     "Subscription expired on"),
    ("message limit reached", lambda r, d: _tenant(r, d, max_messages=3, messages_sent=3), {}, Forbidden,
     "Message limit reached"),
    ("message limit reached, with media", lambda r, d: _tenant(r, d, max_messages=0),
     {"type": "image", "media": PNG}, Forbidden, "Message limit reached"),  # the stored file is removed again
    ("invalid number", _nothing, {"to": "0812"}, Invalid, "to"),
    ("empty text", _nothing, {"text": "  "}, Invalid, "text"),
    ("text too long", _nothing, {"text": "x" * 65_537}, Invalid, "text"),
    ("unknown type", _nothing, {"type": "poll"}, Invalid, "type"),
    ("bad priority", _nothing, {"priority": "asap"}, Invalid, "priority"),
    ("missing media", _nothing, {"type": "image", "text": None}, Invalid, "media"),
    ("caption too long", _nothing, {"type": "image", "media": PNG, "caption": "c" * 1025}, Invalid, "caption"),
    ("too-large media", _nothing, {"type": "document", "media": PDF + bytes(1024 * 1024)}, PayloadTooLarge,
     "1 MB"),
    ("ELF disguised as .jpg", _nothing, {"type": "image", "media": ELF, "file_name": "cat.jpg"},
     UnsupportedMediaType, "executable"),
    ("HTML disguised as .jpg", _nothing, {"type": "image", "media": HTML, "file_name": "cat.jpg"},
     UnsupportedMediaType, "HTML"),
    ("PDF sent as an image", _nothing, {"type": "image", "media": PDF, "file_name": "a.pdf"},
     UnsupportedMediaType, "cannot be sent as image"),
    ("latitude out of range", _nothing, {"type": "location", "latitude": 91.0, "longitude": 0.0}, Invalid,
     "latitude"),
    ("longitude missing", _nothing, {"type": "location", "latitude": 1.0}, Invalid, "longitude"),
    ("coordinate not a number", _nothing, {"type": "location", "latitude": float("nan"), "longitude": 1.0},
     Invalid, "latitude"),
    ("send_at in the past", _nothing, {"send_at": "past"}, Invalid, "send_at"),
    ("send_at beyond 30 days", _nothing, {"send_at": "far"}, Invalid, "send_at"),
    ("send_at without a zone", _nothing, {"send_at": "naive"}, Invalid, "send_at"),
    ("idempotency key too long", _nothing, {"idempotency_key": "k" * 192}, Invalid, "idempotency_key"),
]


@pytest.mark.parametrize(("arrange", "changes", "error", "mentions"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
async def test_a_refused_send_leaves_no_row_no_job_no_file(
        db: Any, arq_redis: ArqRedis, sharded: Settings, rows: Rows, tenant_id: int, arrange: Arrange,
        changes: dict[str, Any], error: type[WAGateError], mentions: str) -> None:
    changes = dict(changes)  # the parameter's dict is shared by the SQLite and MariaDB runs
    await arrange(rows, db)
    sent_before = await rows.messages_sent(tenant_id)
    caller = tenant_id
    if changes.pop("_tenant", None) == "other":
        caller = await rows.tenant("usr_other")
    when = {"past": utcnow() - timedelta(minutes=2), "far": utcnow() + timedelta(days=31),
            "naive": datetime(2030, 1, 1)}  # a naive datetime is the bad input here
    if "send_at" in changes:
        changes["send_at"] = when[changes["send_at"]]
    request = dataclasses.replace(text(), **changes)

    with pytest.raises(error) as raised:
        await sending.queue_message(db, arq_redis, sharded, request, tenant_id=caller)

    assert type(raised.value) is error
    assert mentions in raised.value.message or mentions in (raised.value.details or {})
    assert await rows.count_messages() == 0
    assert await arq_redis.keys("arq:*") == []
    assert uploaded_files(sharded) == []
    assert await rows.messages_sent(tenant_id) == sent_before


async def test_all_bad_fields_are_reported_at_once(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                   tenant_id: int) -> None:
    with pytest.raises(Invalid) as raised:
        await sending.queue_message(db, arq_redis, sharded, text(to="x", text="", priority="asap"))
    assert set(raised.value.details) == {"to", "text", "priority"}


async def test_send_at_a_little_behind_our_clock_is_accepted(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                             tenant_id: int) -> None:
    result = await sending.queue_message(db, arq_redis, sharded, text(send_at=utcnow() - timedelta(seconds=30)))
    assert result.created
    # not deferred into the past: due now
    score = await arq_redis.zscore(bridge_queue(shard_of(SESSION, SHARDS)), f"send:{result.message.id}")
    assert score is not None and score <= utcnow().timestamp() * 1000


async def test_an_idempotency_key_returns_the_same_message_and_one_job(db: Any, arq_redis: ArqRedis,
                                                                       sharded: Settings, rows: Rows,
                                                                       tenant_id: int) -> None:
    first = await sending.queue_message(db, arq_redis, sharded, text(idempotency_key="order-77"))
    # A retry after the session dropped still gets the original answer.
    await _session_status(rows, db, SessionStatus.STARTING)
    again = await sending.queue_message(db, arq_redis, sharded, text(idempotency_key="order-77"))

    assert first.created and not again.created and not again.enqueued
    assert again.message.id == first.message.id
    assert await rows.count_messages() == 1
    assert await queued_job_ids(arq_redis, SHARDS) == {shard_of(SESSION, SHARDS): [f"send:{first.message.id}"]}
    assert await rows.messages_sent(tenant_id) == 1


async def test_a_linked_session_reconnecting_queues_sends_and_one_never_linked_refuses(
        db: Any, arq_redis: ArqRedis, sharded: Settings, rows: Rows, tenant_id: int) -> None:
    """A bridge restarting (a deploy) puts its sessions in STARTING for a moment: a send then is queued, not refused."""
    async with db() as s, s.begin():
        await s.execute(update(WaSession).values(status=SessionStatus.STARTING, jid="6281234567890@s.whatsapp.net"))
    result = await sending.queue_message(db, arq_redis, sharded, text())
    assert result.created and result.enqueued

    async with db() as s, s.begin():
        await s.execute(update(WaSession).values(status=SessionStatus.STARTING, jid=None))
    with pytest.raises(Conflict, match="STARTING"):
        await sending.queue_message(db, arq_redis, sharded, text())


async def test_concurrent_sends_with_one_key_make_one_message(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                              rows: Rows, tenant_id: int) -> None:
    results = await asyncio.gather(*[
        sending.queue_message(db, arq_redis, sharded, text(idempotency_key="race")) for _ in range(6)])

    assert sum(r.created for r in results) == 1
    assert len({r.message.id for r in results}) == 1
    assert await rows.count_messages() == 1
    assert sum(len(ids) for ids in (await queued_job_ids(arq_redis, SHARDS)).values()) == 1
    assert await rows.messages_sent(tenant_id) == 1


async def test_the_message_limit_is_exact_under_20_concurrent_sends(db: Any, arq_redis: ArqRedis,
                                                                    sharded: Settings, rows: Rows,
                                                                    tenant_id: int) -> None:
    await _tenant(rows, db, max_messages=10)
    results = await asyncio.gather(*[
        sending.queue_message(db, arq_redis, sharded, text(text=f"pesan {i}")) for i in range(20)],
        return_exceptions=True)

    sent = [r for r in results if isinstance(r, sending.QueuedMessage)]
    refused = [r for r in results if isinstance(r, Forbidden)]
    assert (len(sent), len(refused)) == (10, 10), [r for r in results if isinstance(r, BaseException)]
    assert all("Message limit reached" in r.message for r in refused)
    assert await rows.messages_sent(tenant_id) == 10
    assert await rows.count_messages() == 10
    assert await arq_redis.zcard(bridge_queue(shard_of(SESSION, SHARDS))) == 10


async def test_a_session_without_tenant_sends_without_counting(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                               rows: Rows) -> None:
    await rows.session("solo")
    result = await sending.queue_message(db, arq_redis, sharded, dataclasses.replace(text(), session_id="solo"))
    assert result.created and result.message.session_id == "solo"


@pytest.mark.slow
async def test_with_valkey_down_the_send_commits_and_the_sweep_enqueues_it_later(
        db: Any, arq_redis: ArqRedis, sharded: Settings, rows: Rows, tenant_id: int, valkey: ValkeyProcess) -> None:
    valkey.stop()
    result = await sending.queue_message(db, arq_redis, sharded, text())
    assert result.created and not result.enqueued
    [row] = await rows.messages()
    assert row.status == MessageStatus.QUEUED

    valkey.start()
    assert await queued_job_ids(arq_redis, SHARDS) == {}
    assert await sweep_outbox(db, arq_redis, sharded, stale_after_s=0) == 1
    assert await queued_job_ids(arq_redis, SHARDS) == {shard_of(SESSION, SHARDS): [f"send:{row.id}"]}


async def test_send_to_many_is_one_transaction_and_one_pipeline(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                                rows: Rows, tenant_id: int) -> None:
    results = await sending.queue_messages(
        db, arq_redis, sharded, SESSION, ["0812-3456-7890", "+6281234567890", "0813 1111 2222", "14155552671"],
        "Rapat jam 10", priority="bulk", idempotency_key="meeting")

    assert [r.message.recipient for r in results] == [DIGITS, "6281311112222", "14155552671"]  # duplicate dropped
    assert all(r.created and r.enqueued for r in results)
    stored = await rows.messages()
    assert [(m.recipient, m.priority, m.body) for m in stored] == [
        (r.message.recipient, Priority.BULK, "Rapat jam 10") for r in results]
    jobs = await queued_job_ids(arq_redis, SHARDS)
    assert sorted(jobs[shard_of(SESSION, SHARDS)]) == sorted(f"send:{m.id}" for m in stored)
    assert await rows.messages_sent(tenant_id) == 3

    again = await sending.queue_messages(
        db, arq_redis, sharded, SESSION, ["0812-3456-7890", "0813 1111 2222", "14155552671", "0856 7777 8888"],
        "Rapat jam 10", priority="bulk", idempotency_key="meeting")
    assert [r.created for r in again] == [False, False, False, True]
    assert [r.message.id for r in again[:3]] == [r.message.id for r in results]
    assert await rows.count_messages() == 4
    assert await rows.messages_sent(tenant_id) == 4


async def test_send_to_many_is_all_or_nothing(db: Any, arq_redis: ArqRedis, sharded: Settings, rows: Rows,
                                              tenant_id: int) -> None:
    with pytest.raises(Invalid) as raised:
        await sending.queue_messages(db, arq_redis, sharded, SESSION, ["0812-3456-7890", "nope", "0812"], "Hi")
    assert set(raised.value.details) == {"to[1]", "to[2]"}

    await _tenant(rows, db, max_messages=2)
    with pytest.raises(Forbidden, match="Message limit reached"):
        await sending.queue_messages(db, arq_redis, sharded, SESSION, ["0812-3456-7890", "0813 1111 2222",
                                                                         "0856 7777 8888"], "Hi")
    assert await rows.count_messages() == 0
    assert await arq_redis.keys("arq:*") == []
    assert await rows.messages_sent(tenant_id) == 0


async def _inbound(db: Any, session_id: str, chat: str, body: str, created_at: datetime) -> int:
    async with db() as s, s.begin():
        row = Message(session_id=session_id, direction=Direction.INBOUND, chat_jid=chat, sender_jid=chat,
                      type=MessageType.TEXT, body=body, status=MessageStatus.DELIVERED, created_at=created_at)
        s.add(row)
        await s.flush()
        return row.id


async def test_get_and_list_messages_are_scoped_and_filtered(db: Any, arq_redis: ArqRedis, sharded: Settings,
                                                             rows: Rows, tenant_id: int) -> None:
    other = await rows.tenant("usr_other")
    await rows.session("other-1", other)
    sent = [(await sending.queue_message(db, arq_redis, sharded, text(text=f"m{i}"))).message for i in range(3)]
    chat = f"{DIGITS}@s.whatsapp.net"
    received = await _inbound(db, SESSION, chat, "balasan", utcnow() + timedelta(minutes=5))
    foreign = await _inbound(db, "other-1", chat, "lain", utcnow())

    async with db() as s:
        assert (await sending.get_message(s, sent[0].id, tenant_id)).body == "m0"
        assert (await sending.get_message(s, foreign)).session_id == "other-1"  # unscoped: an admin
        with pytest.raises(NotFound):
            await sending.get_message(s, foreign, tenant_id)
        with pytest.raises(NotFound):
            await sending.get_message(s, 999_999)

        page = await sending.list_messages(s, MessageFilters(), tenant_id)
        assert page.total == 4 and [m.id for m in page.items] == [received, sent[2].id, sent[1].id, sent[0].id]
        everything = await sending.list_messages(s, MessageFilters())
        assert everything.total == 5

        by_chat = await sending.list_messages(s, MessageFilters(chat=chat), tenant_id)
        assert by_chat.total == 4
        inbound = await sending.list_messages(s, MessageFilters(direction="in", session_id=SESSION))
        assert [m.id for m in inbound.items] == [received]
        queued = await sending.list_messages(s, MessageFilters(status="queued", limit=2, page=2), tenant_id)
        assert (queued.total, [m.id for m in queued.items]) == (3, [sent[0].id])
        later = await sending.list_messages(s, MessageFilters(since=utcnow() + timedelta(minutes=1)))
        assert [m.id for m in later.items] == [received]

        with pytest.raises(Invalid) as raised:
            await sending.list_messages(s, MessageFilters(limit=101, page=0, status="lost"))
        assert set(raised.value.details) == {"limit", "page", "status"}
