"""Crash safety: a SIGKILLed bridge loses nothing and sends nothing twice; nor does a Redis flush lose anything."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import add_session, link_session, sent_by, start_bridge, until, wait_status
from tests.servers import ValkeyProcess
from wagate.bridge.sender import SessionSender
from wagate.config import Settings
from wagate.db.enums import MessageStatus, SessionStatus
from wagate.db.models_whatsapp import Message
from wagate.queue.jobs import enqueue_session_command, enqueue_simulator_control
from wagate.queue.names import bridge_queue
from wagate.services.events import EVENT_STREAM
from wagate.services.messaging.outbox import sweep_outbox
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.transport.simulator import SimulatorTransport
from wagate.transport.simulator.wire import read_sent_log, sent_log_file

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BATCH = 30
DONE = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


class BridgeProcess:
    """`python -m wagate bridge --shard 0` as its own process, on the test's database, Redis and folders."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("WAGATE_", "DATABASE_", "REDIS_"))}
        self.env.update(
            WAGATE_ENV="test", DATABASE_URL=settings.database_url, REDIS_URL=settings.redis_url or "",
            WA_TRANSPORT="simulator", AUTH_SESSIONS_DIR=str(settings.auth_sessions_dir),
            DATA_DIR=str(settings.data_dir), LOG_DIR=str(settings.log_dir), UPLOAD_DIR=str(settings.upload_dir),
            JWT_SECRET=settings.jwt_secret, ENCRYPTION_KEY=settings.encryption_key, LOG_FORMAT="json",
            SEND_GAP_MS="100", BULK_GAP_MS="100", SEND_JITTER_MS="0", SIMULATOR_SPEED="50", TYPING_MS_PER_CHAR="0",
        )
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "wagate", "bridge", "--shard", "0"],
                                            cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


async def ready(redis: ArqRedis) -> None:
    """A ping job answered by the bridge's queue: the process is consuming jobs."""
    job = await redis.enqueue_job("ping", _queue_name=bridge_queue(0))
    assert job is not None
    assert await job.result(timeout=60) == "pong"


async def start_linked(bridge: BridgeProcess, db: async_sessionmaker[AsyncSession], redis: ArqRedis,
                       settings: Settings, session_id: str, phone: str) -> None:
    """Start the bridge process and link `session_id` through it: start command, QR, the simulated phone scans."""
    await add_session(db, session_id)
    bridge.start()
    await ready(redis)
    await enqueue_session_command(redis, settings.bridge_shards, session_id, "start")
    await wait_status(db, session_id, SessionStatus.SCAN_QR_CODE, timeout=30)
    await enqueue_simulator_control(redis, settings.bridge_shards, session_id, "scan", {"phone": phone})
    await wait_status(db, session_id, SessionStatus.WORKING, timeout=30)


async def statuses(db: async_sessionmaker[AsyncSession], session_id: str) -> Counter[MessageStatus]:
    async with db() as session:
        rows = await session.execute(select(Message.status, func.count()).where(Message.session_id == session_id)
                                     .group_by(Message.status))
    return Counter({status: count for status, count in rows.all()})


async def link_then_stop(db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
                         session_id: str) -> None:
    """A session linked by a bridge that then stops: what it is sent next waits for the following bridge."""
    bridge = await start_bridge(settings)
    try:
        await add_session(db, session_id)
        await link_session(bridge, db, arq_redis, settings, session_id)
    finally:
        await bridge.stop()


async def test_a_bridge_killed_mid_batch_sends_every_message_exactly_once(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, tmp_path: Path,
) -> None:
    sent_log = sent_log_file(settings.auth_sessions_dir)
    bridge = BridgeProcess(settings, tmp_path / "bridge.log")
    try:
        await start_linked(bridge, db, arq_redis, settings, "cr", "6281700000001")

        texts = [f"crash {n:02d}" for n in range(BATCH)]
        for text in texts:
            await queue_message(db, arq_redis, settings, SendRequest(session_id="cr", to="6285799990000", text=text))

        async def a_third_sent() -> bool:
            return len(read_sent_log(sent_log)) >= BATCH // 3

        await until(a_third_sent, timeout=30, what="a third of the batch")
        bridge.kill()
        before_kill = read_sent_log(sent_log)
        at_kill = await statuses(db, "cr")
        async with db() as session:
            in_flight = set(await session.scalars(select(Message.body).where(
                Message.session_id == "cr", Message.status == MessageStatus.SENDING)))
        assert 0 < len(before_kill) < BATCH

        bridge.start()  # on the same host, it takes the dead process's session lease over at once

        async def all_sent() -> bool:
            done = await statuses(db, "cr")
            return sum(done[s] for s in DONE) == BATCH

        await until(all_sent, timeout=90, what="the whole batch after the restart")
        log = read_sent_log(sent_log)
        counts = Counter(str(line["text"]) for line in log if line["session_id"] == "cr")
        print(f"killed after {len(before_kill)} sends (rows then: {dict(at_kill)}); after the restart "
              f"{len(log) - len(before_kill)} more; copies per message: {sorted(Counter(counts.values()).items())}")
        assert set(counts) == set(texts)  # nothing lost
        # Exactly once: the rows left `sending` by the kill are sent again, under the ids stored with their
        # `sending` mark, and the simulated WhatsApp (like the real one's recipients) keeps one message per id.
        assert all(n == 1 for n in counts.values()), (counts, in_flight)
        assert len({line["pid"] for line in log}) == 2
        async with db() as session:
            rows = (await session.execute(select(Message.body, Message.wa_message_id, Message.attempts)
                                          .where(Message.session_id == "cr"))).all()
        assert {body: wa_id for body, wa_id, _ in rows} == {str(line["text"]): line["message_id"] for line in log}
        assert all(attempts == (2 if body in in_flight else 1) for body, _, attempts in rows), (rows, in_flight)
        assert (await statuses(db, "cr"))[MessageStatus.FAILED] == 0
    finally:
        bridge.stop()


@pytest.mark.parametrize("bridge_env", [{"SEND_GAP_MS": "0", "BULK_GAP_MS": "0"}])  # pacing off: one batch
async def test_a_batch_whatsapp_took_that_the_bridge_never_recorded_goes_out_once(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The window a SIGKILL has to hit by chance, held open: WhatsApp has the batch and its `message.sent` events
    are out, but its `sent` write never comes."""
    await link_then_stop(db, arq_redis, settings, "cw")
    texts = [f"window {n}" for n in range(5)]
    for text in texts:
        await queue_message(db, arq_redis, settings, SendRequest(session_id="cw", to="6285799990002", text=text))

    never = asyncio.Event()

    async def dies_before_recording(self: SessionSender, done: list[object], now: object) -> None:
        await never.wait()

    async def no_receipts(*args: object) -> None:
        pass  # nor does a killed bridge apply the receipts of what it sent

    with monkeypatch.context() as patched:
        patched.setattr(SessionSender, "_record_sent", dies_before_recording)
        patched.setattr(SimulatorTransport, "_receipts", no_receipts)
        dying = await start_bridge(settings)
        try:
            async def all_accepted() -> bool:
                return len(sent_by(dying.sim, "cw")) == len(texts)

            await until(all_accepted, what="WhatsApp to take the batch")
            accepted = {s.text: s.message_id for s in sent_by(dying.sim, "cw")}
        finally:
            await dying.stop()
    assert (await statuses(db, "cw"))[MessageStatus.SENDING] == len(texts)

    again = await start_bridge(settings)
    try:
        async def all_done() -> bool:
            done = await statuses(db, "cw")
            return sum(done[s] for s in DONE) == len(texts)

        await until(all_done, what="the batch recorded after the restart")
        assert sent_by(again.sim, "cw") == []  # each resend carried its id, and WhatsApp already had it
        async with db() as session:
            rows = (await session.execute(select(Message.body, Message.wa_message_id, Message.attempts)
                                          .where(Message.session_id == "cw"))).all()
        assert {body: (wa_id, attempts) for body, wa_id, attempts in rows} == {
            text: (accepted[text], 2) for text in texts}
        log = read_sent_log(sent_log_file(settings.auth_sessions_dir))
        assert sorted(str(line["text"]) for line in log if line["session_id"] == "cw") == texts
        # Both bridges published each message's message.sent, under one event id: one webhook each.
        published = [json.loads(fields[b"event"]) for _, fields in await arq_redis.xrange(EVENT_STREAM)]
        ids: dict[int, list[str]] = {}
        for event in published:
            if event["event"] == "message.sent" and event["session"] == "cw":
                ids.setdefault(event["data"]["id"], []).append(event["id"])
        assert len(ids) == len(texts) and all(len(one) == 2 and len(set(one)) == 1 for one in ids.values()), ids
    finally:
        await again.stop()


async def test_messages_queued_while_redis_was_flushed_and_the_bridge_down_are_all_sent(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, valkey: ValkeyProcess,
) -> None:
    await link_then_stop(db, arq_redis, settings, "fl")
    ids = [(await queue_message(db, arq_redis, settings, SendRequest(session_id="fl", to="6285799990001",
                                                                     text=f"flushed {n}"))).message.id
           for n in range(10)]
    valkey.flushall()  # the send jobs, the pacing keys, the leases: all gone
    assert await arq_redis.zcard(bridge_queue(0)) == 0
    assert await sweep_outbox(db, arq_redis, settings, stale_after_s=0) == 10  # the sweep finds every row

    again = await start_bridge(settings)
    try:
        async def all_sent() -> bool:
            done = await statuses(db, "fl")
            return sum(done[s] for s in DONE) == len(ids)

        await until(all_sent, timeout=20, what="every flushed message")
        assert sorted(s.text or "" for s in sent_by(again.sim, "fl")) == sorted(f"flushed {n}" for n in range(10))
    finally:
        await again.stop()
