"""The bridge on the real neonize transport, with whatsmeow played by a double at neonize's Go boundary."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job
from neonize.proto import Neonize_pb2 as pb
from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import (
    EventLog,
    RunningBridge,
    add_session,
    get_message,
    start_bridge,
    until,
    wait_message,
    wait_status,
)
from tests.transport.whatsmeow_double import WhatsmeowDouble, jid, whatsmeow  # noqa: F401 - the fixture
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, MessageType, SessionStatus
from wagate.db.models_whatsapp import Message
from wagate.queue.jobs import enqueue_session_command
from wagate.queue.names import bridge_queue
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.transport.neonize import NeonizeTransport

pytestmark = pytest.mark.parametrize("bridge_env", [{"WA_TRANSPORT": "neonize"}])
PHONE = "6281234567890"
TO = "6285712345678"
LID = "123456789012345"


@pytest.fixture
async def neonize_bridge(settings: Settings, whatsmeow: WhatsmeowDouble) -> AsyncIterator[RunningBridge]:  # noqa: F811
    handle = await start_bridge(settings)
    assert isinstance(handle.bridge.transport, NeonizeTransport)
    yield handle
    await handle.stop()


def transport(handle: RunningBridge) -> NeonizeTransport:
    assert isinstance(handle.bridge.transport, NeonizeTransport)
    return handle.bridge.transport


async def command(redis: ArqRedis, settings: Settings, session_id: str, name: str) -> None:
    """Run a session command through the bridge's queue and wait for its job to finish."""
    job_id = await enqueue_session_command(redis, settings.bridge_shards, session_id, name)
    await Job(job_id, redis, _queue_name=bridge_queue(0)).result(timeout=30)


async def test_stop_and_restart_during_qr_reach_their_status_within_seconds(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings,
) -> None:
    await add_session(db, "s1")
    await command(arq_redis, settings, "s1", "start")
    await wait_status(db, "s1", SessionStatus.SCAN_QR_CODE)

    timings = {}
    for name, status in (("stop", SessionStatus.STOPPED), ("start", SessionStatus.SCAN_QR_CODE),
                         ("restart", SessionStatus.SCAN_QR_CODE), ("stop", SessionStatus.STOPPED),
                         ("start", SessionStatus.SCAN_QR_CODE)):
        started = time.monotonic()
        await command(arq_redis, settings, "s1", name)
        await wait_status(db, "s1", status, timeout=10)
        timings[name] = round(time.monotonic() - started, 2)
    assert whatsmeow.stuck == transport(neonize_bridge).abandoned_calls == 3

    whatsmeow.scan(transport(neonize_bridge).client("s1").uuid, PHONE)  # the live client's code is scanned
    row = await wait_status(db, "s1", SessionStatus.WORKING)
    assert row.phone == PHONE
    print(f"\nseconds to the named status: {timings}")


async def test_the_bridge_restarts_itself_when_stuck_calls_pile_up(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings,
) -> None:
    recycled: list[bool] = []
    neonize_bridge.bridge.recycle = lambda: recycled.append(True)
    transport(neonize_bridge).max_abandoned = 2
    await add_session(db, "s1")
    for _ in range(3):
        await command(arq_redis, settings, "s1", "start")
        await wait_status(db, "s1", SessionStatus.SCAN_QR_CODE)
        await command(arq_redis, settings, "s1", "stop")
        await wait_status(db, "s1", SessionStatus.STOPPED)

    await until(lambda: asyncio.sleep(0, bool(recycled)), what="the bridge asking for a restart")
    assert recycled == [True]  # once, however many more pile up while it drains


async def test_the_bridge_restarts_itself_before_failed_connects_exhaust_its_file_descriptors(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings,
) -> None:
    recycled: list[bool] = []
    neonize_bridge.bridge.recycle = lambda: recycled.append(True)
    t = transport(neonize_bridge)
    t.max_open_stores, t.network_probe, t.reconnect_backoff = 5, None, (0.01,)  # WhatsApp's host answers, but
    whatsmeow.network = False  # every connect fails inside the Go core, which opens a store each time
    await add_session(db, "s1")
    await command(arq_redis, settings, "s1", "start")

    await until(lambda: asyncio.sleep(0, bool(recycled)), what="the bridge asking for a restart")
    await until(lambda: asyncio.sleep(0, whatsmeow.stores_opened > 8), what="more failed connects")
    assert recycled == [True] and t.stores_left_open >= 8  # asked once, at the limit
    await command(arq_redis, settings, "s1", "stop")


# --- sending: never twice ------------------------------------------------------------------------------------


async def linked_session(handle: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
                         redis: ArqRedis, settings: Settings, session_id: str = "s1") -> None:
    whatsmeow.linked[str(Path(settings.auth_sessions_dir) / f"{session_id}.sqlite3")] = PHONE
    await add_session(db, session_id)
    await command(redis, settings, session_id, "start")
    await wait_status(db, session_id, SessionStatus.WORKING)


async def queue_text(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings, text: str) -> int:
    queued = await queue_message(db, redis, settings, SendRequest(session_id="s1", to=TO, text=text))
    return queued.message.id


async def test_a_send_without_answer_is_unknown_and_never_sent_again(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings, event_log: EventLog,
) -> None:
    await linked_session(neonize_bridge, whatsmeow, db, arq_redis, settings)
    whatsmeow.send_errors += ["timed out waiting for message send response", "server returned error 500"]

    unknown = await queue_text(db, arq_redis, settings, "satu")
    row = await wait_message(db, unknown, MessageStatus.UNKNOWN, MessageStatus.FAILED, MessageStatus.SENT)
    assert row.status == MessageStatus.UNKNOWN and "WhatsApp may have the message" in (row.error or "")
    event = await event_log.wait_for(lambda e: e["event"] == "message.unknown")
    assert event["data"]["status"] == "unknown"

    refused = await queue_text(db, arq_redis, settings, "dua")  # refused by the server: retried, sent once
    assert (await wait_message(db, refused, MessageStatus.SENT, timeout=20)).attempts == 2
    await asyncio.sleep(0.5)
    assert [m.conversation for _, m in whatsmeow.sent] == ["satu", "dua"]  # "satu" left once, and only once
    assert (await get_message(db, unknown)).status == MessageStatus.UNKNOWN


async def test_a_message_left_sending_by_a_stopped_bridge_is_unknown_not_resent(
    settings: Settings, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, event_log: EventLog,
) -> None:
    whatsmeow.linked[str(Path(settings.auth_sessions_dir) / "s1.sqlite3")] = PHONE
    await add_session(db, "s1", status=SessionStatus.WORKING)
    async with db() as session, session.begin():
        left = Message(session_id="s1", direction=Direction.OUTBOUND, recipient=TO, type=MessageType.TEXT,
                       body="tadi", status=MessageStatus.SENDING, attempts=1, wa_message_id="3EB0LEFT")
        session.add(left)
    handle = await start_bridge(settings)  # resumes the WORKING session, whose sender finds the row
    try:
        row = await wait_message(db, left.id, MessageStatus.UNKNOWN, MessageStatus.SENT)
        assert row.status == MessageStatus.UNKNOWN
        assert whatsmeow.sent == []
    finally:
        await handle.stop()


async def test_whatsapps_463_pauses_new_contacts_and_the_session_resumes_by_itself(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings, event_log: EventLog,
) -> None:
    neonize_bridge.bridge.settings = settings.replace(send_limit_pause_s=0.5)
    await linked_session(neonize_bridge, whatsmeow, db, arq_redis, settings)
    whatsmeow.send_errors += ["server returned error 463"]

    mid = await queue_text(db, arq_redis, settings, "promo")
    limited = await event_log.wait_for(lambda e: e["event"] == "session.limited")
    assert limited["data"]["code"] == 463 and limited["data"]["pauseSeconds"] == 0.5
    row = await wait_message(db, mid, MessageStatus.SENT, timeout=10)  # after the pause: once, not failed
    assert row.attempts == 1 and row.error is None
    await event_log.wait_for(lambda e: e["event"] == "session.unlimited")
    assert [m.conversation for _, m in whatsmeow.sent] == ["promo"]


async def test_a_connection_that_no_longer_answers_is_reconnected(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings,
) -> None:
    await linked_session(neonize_bridge, whatsmeow, db, arq_redis, settings)
    silence = neonize_bridge.bridge.silence
    silence.silent_after_s = 0.2
    await asyncio.sleep(0.3)
    assert await silence.check() == [] and whatsmeow.pings == 1  # quiet, and the blocklist query was answered

    uuid = transport(neonize_bridge).client("s1").uuid
    whatsmeow.unanswered.add(uuid)  # still "connected", but the IQ times out
    await asyncio.sleep(0.3)
    assert await silence.check() == ["s1"]
    await wait_status(db, "s1", SessionStatus.WORKING)  # a new Go connect, answered again
    await until(lambda: asyncio.sleep(0, whatsmeow.client(uuid).connected), what="a fresh connection")
    await asyncio.sleep(0.3)
    assert await silence.check() == [] and whatsmeow.pings == 3


async def test_keepalives_that_never_come_back_end_in_a_reconnect(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings,
) -> None:
    await linked_session(neonize_bridge, whatsmeow, db, arq_redis, settings)
    uuid = transport(neonize_bridge).client("s1").uuid
    opened = whatsmeow.stores_opened
    whatsmeow.unanswered.add(uuid)
    whatsmeow.deliver(uuid, pb.KeepAliveTimeout(ErrorCount=3, LastSuccess=1_722_000_000))
    await wait_status(db, "s1", SessionStatus.STARTING)  # whatsmeow says it keeps trying by itself
    silence = neonize_bridge.bridge.silence
    silence.silent_after_s = 0.2
    await asyncio.sleep(0.3)
    assert await silence.check() == ["s1"]  # no KeepAliveRestored, no answer: the bridge reconnects it
    await wait_status(db, "s1", SessionStatus.WORKING)
    assert whatsmeow.stores_opened == opened + 1


# --- what whatsmeow hands on besides chat messages -----------------------------------------------------------


def incoming(content: e2e.Message, message_id: str) -> pb.Message:
    source = pb.MessageSource(Chat=jid(LID, "lid"), Sender=jid(LID, "lid"), SenderAlt=jid(TO), IsFromMe=False,
                              IsGroup=False)
    info = pb.MessageInfo(MessageSource=source, ID=message_id, Pushname="Ani", Timestamp=1_722_000_000_500, Type="")
    return pb.Message(Info=info, Message=content)


def protocol(kind: int, **fields: object) -> e2e.Message:
    return e2e.Message(protocolMessage=e2e.ProtocolMessage(type=kind, key={"ID": "3EB0ORIG"}, **fields))


async def test_edits_reactions_and_revokes_change_the_message_and_protocol_traffic_is_not_stored(
    neonize_bridge: RunningBridge, whatsmeow: WhatsmeowDouble, db: async_sessionmaker[AsyncSession],  # noqa: F811
    arq_redis: ArqRedis, settings: Settings, event_log: EventLog,
) -> None:
    await linked_session(neonize_bridge, whatsmeow, db, arq_redis, settings)
    uuid = transport(neonize_bridge).client("s1").uuid
    started = time.monotonic()
    whatsmeow.deliver(uuid, incoming(e2e.Message(conversation="pinjam ruang"), "3EB0ORIG"))
    await event_log.wait_for(lambda e: e["event"] == "message.received")  # published after the row's commit
    print(f"\nfrom the Go core's hand-off to the stored row and its event: {time.monotonic() - started:.3f} s")

    whatsmeow.deliver(
        uuid,
        incoming(protocol(e2e.ProtocolMessage.HISTORY_SYNC_NOTIFICATION), "3EB0P1"),
        incoming(protocol(e2e.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE), "3EB0P2"),
        incoming(e2e.Message(call=e2e.Call(callKey=b"k")), "3EB0P3"),
        incoming(protocol(e2e.ProtocolMessage.MESSAGE_EDIT, editedMessage=e2e.Message(conversation="pinjam aula")),
                 "3EB0P4"),
        incoming(e2e.Message(reactionMessage=e2e.ReactionMessage(text="👍", key={"ID": "3EB0ORIG"})), "3EB0P5"),
        incoming(protocol(e2e.ProtocolMessage.REVOKE), "3EB0P6"),
        gap_s=0.2,
    )
    for name in ("message.edited", "message.reaction", "message.revoked"):
        event = await event_log.wait_for(lambda e, name=name: e["event"] == name)  # type: ignore[misc]
        assert event["data"]["messageId"] == "3EB0ORIG" and event["data"]["from"] == f"{TO}@s.whatsapp.net"
    async with db() as session:
        rows = list(await session.scalars(select(Message).where(Message.session_id == "s1")))
    assert [r.wa_message_id for r in rows] == ["3EB0ORIG"]  # nothing else stored as a message
    [row] = rows
    assert row.body == "pinjam aula"
    assert row.content is not None and row.content["reactions"] == {f"{TO}@s.whatsapp.net": "👍"}
    assert "revokedAt" in row.content and "editedAt" in row.content
    assert event_log.names("s1").count("message.received") == 1
