"""Receipts through the real bridge: bursts applied together, every row at its status, every event once, in order."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from arq.connections import ArqRedis
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import EventLog, RunningBridge, add_session, link_session, until
from wagate.config import Settings
from wagate.db.enums import MessageStatus
from wagate.db.models_whatsapp import Message
from wagate.services.messaging.sending import queue_messages
from wagate.transport.base import ReceiptKind, ReceiptReceived

NO_PACING = {"SEND_GAP_MS": "0", "BULK_GAP_MS": "0"}
RECIPIENTS = [f"62857{n:08d}" for n in range(30)]
_ticks = itertools.count()  # receipts made one after another carry times one after another


async def rows(db: async_sessionmaker[AsyncSession], session_id: str) -> list[Message]:
    async with db() as session:
        return list(await session.scalars(select(Message).where(Message.session_id == session_id)
                                          .order_by(Message.id)))


async def sent_without_receipts(running: RunningBridge, db: async_sessionmaker[AsyncSession], redis: ArqRedis,
                                settings: Settings, session_id: str) -> list[Message]:
    """A linked session whose phone sends no receipts by itself, and its 30 messages, all `sent`."""
    await add_session(db, session_id)
    await link_session(running, db, redis, settings, session_id)
    running.sim.set_receipts(None, None)
    await queue_messages(db, redis, settings, session_id, RECIPIENTS, "Tagihan bulan ini sudah terbit")

    async def all_sent() -> bool:
        return [m.status for m in await rows(db, session_id)] == [MessageStatus.SENT] * len(RECIPIENTS)

    await until(all_sent, what="every message sent")
    return await rows(db, session_id)


@contextmanager
def message_updates(running: RunningBridge) -> Iterator[list[str]]:
    """The UPDATE statements on messages the bridge runs meanwhile (a real engine hook, not a stand-in)."""
    engine = running.bridge.db.kw["bind"].sync_engine
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE MESSAGES"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def receipt(session_id: str, kind: ReceiptKind, *wa_ids: str | None) -> ReceiptReceived:
    return ReceiptReceived(session_id=session_id, kind=kind, chat="6285700000000@s.whatsapp.net",
                           message_ids=tuple(i or "" for i in wa_ids), timestamp=time.time() + next(_ticks) / 1000)


@pytest.mark.parametrize("bridge_env", [NO_PACING])
async def test_a_burst_of_receipts_moves_every_row_once_and_forward_only(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    sent = await sent_without_receipts(running, db, arq_redis, settings, "r1")
    ids = [m.wa_message_id for m in sent]
    in_order, read_first, delivered_only = ids[:10], ids[10:20], ids[20:]
    burst = [receipt("r1", "delivered", "3EB0NOT-OURS")]
    for wa_id in in_order:
        burst += [receipt("r1", "delivered", wa_id), receipt("r1", "read", wa_id)]
    for wa_id in read_first:
        burst += [receipt("r1", "read", wa_id), receipt("r1", "delivered", wa_id)]  # late: never back to delivered
    burst += [receipt("r1", "delivered", *delivered_only), receipt("r1", "delivered", delivered_only[0])]

    with message_updates(running) as updates:
        # All at once, as a transport reports a burst: each sink call returns once its receipt was applied.
        await asyncio.gather(*(running.bridge.on_event(r) for r in burst))
    assert len(updates) <= 6, f"{len(burst)} receipts took {len(updates)} UPDATEs"

    after = {m.wa_message_id: m for m in await rows(db, "r1")}
    for wa_id in in_order + read_first:
        row = after[wa_id]
        assert row.status == MessageStatus.READ and row.read_at is not None and row.delivered_at is not None
        assert row.sent_at is not None and row.sent_at <= row.delivered_at <= row.read_at
    for wa_id in in_order:
        assert after[wa_id].delivered_at < after[wa_id].read_at  # type: ignore[operator]
    for wa_id in read_first:
        assert after[wa_id].delivered_at == after[wa_id].read_at  # "read" stamped the delivery it implies
    for wa_id in delivered_only:
        assert after[wa_id].status == MessageStatus.DELIVERED and after[wa_id].read_at is None

    last = after[delivered_only[-1]].id
    await event_log.wait_for(lambda e: e["event"] == "message.delivered" and e["data"]["id"] == last)
    await asyncio.sleep(0.2)  # anything published twice would have arrived by now
    by_message: dict[str, list[str]] = {}
    for e in event_log.items:
        if e["event"] in ("message.delivered", "message.read"):
            by_message.setdefault(e["data"]["messageId"], []).append(e["data"]["status"])
    assert by_message == {
        **{wa_id: ["delivered", "read"] for wa_id in in_order},
        **{wa_id: ["read"] for wa_id in read_first},
        **{wa_id: ["delivered"] for wa_id in delivered_only},
    }


@pytest.mark.parametrize("bridge_env", [NO_PACING])
async def test_receipts_for_read_or_unknown_messages_change_nothing(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    sent = await sent_without_receipts(running, db, arq_redis, settings, "r2")
    first = sent[0].wa_message_id
    await running.bridge.on_event(receipt("r2", "read", first))
    before = {m.id: (m.status, m.delivered_at, m.read_at, m.updated_at) for m in await rows(db, "r2")}

    await asyncio.gather(*(running.bridge.on_event(r) for r in [
        receipt("r2", "delivered", first), receipt("r2", "read", first), receipt("r2", "played", first),
        receipt("r2", "read", "3EB0NOT-OURS", "3EB0ALSO-NOT"), receipt("other-session", "read", sent[1].wa_message_id),
    ]))

    assert {m.id: (m.status, m.delivered_at, m.read_at, m.updated_at) for m in await rows(db, "r2")} == before
    await event_log.wait_for(lambda e: e["event"] == "message.read" and e["data"]["messageId"] == first)
    await asyncio.sleep(0.2)
    assert [e["event"] for e in event_log.items if e["event"] in ("message.delivered", "message.read")] == [
        "message.read"]


@pytest.mark.parametrize("bridge_env", [NO_PACING])
async def test_every_message_of_a_batch_gets_sent_delivered_read_once_in_order(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    event_log: EventLog,
) -> None:
    await add_session(db, "r3")
    await link_session(running, db, arq_redis, settings, "r3")
    queued = await queue_messages(db, arq_redis, settings, "r3", RECIPIENTS, "Pengingat jadwal besok")
    ids = {q.message.id for q in queued}

    async def all_read() -> bool:
        return {m.status for m in await rows(db, "r3")} == {MessageStatus.READ}

    await until(all_read, what="every message read")
    await until(lambda: _read_events(event_log, ids), what="every message.read event")
    await asyncio.sleep(0.2)
    seen: dict[int, list[str]] = {}
    for e in event_log.items:
        if e["event"].startswith("message.") and e["data"].get("id") in ids:
            seen.setdefault(e["data"]["id"], []).append(e["event"])
    assert seen == {mid: ["message.sent", "message.delivered", "message.read"] for mid in ids}


async def _read_events(event_log: EventLog, ids: set[int]) -> bool:
    return {e["data"]["id"] for e in event_log.items if e["event"] == "message.read"} >= ids
