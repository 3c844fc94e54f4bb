"""Bridges as real processes take each other's sessions over: one SIGKILLed, one drained, one added.

Every bridge runs `python -m wagate bridge --shard 0` on the test's database, Valkey and folders; the simulated
WhatsApp's sent log (shared by the processes, as WhatsApp is) tells what was sent, and how many times.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import add_session, until, wait_status
from tests.observability.processes import Child, log_lines
from wagate.bridge.leases import ALIVE_TTL_MS
from wagate.config import Settings
from wagate.db.enums import MessageStatus, SessionStatus
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.queue.jobs import enqueue_session_command, enqueue_simulator_control
from wagate.queue.names import bridge_queue, lease_key
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.services.sessions.drivers import ORPHANED_REASON, mark_orphans
from wagate.transport.simulator.wire import read_sent_log, sent_log_file

pytestmark = pytest.mark.slow

SESSIONS = [f"fo{n}" for n in range(4)]
TAKEOVER_S = 45  # the promise: every session of a bridge that died WORKING on another within this
DONE = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


def bridge(settings: Settings, log: Path) -> tuple[Child, int]:
    child = Child.wagate(settings, log, "bridge", "--shard", "0", SEND_GAP_MS="100", BULK_GAP_MS="100",
                         TYPING_MS_PER_CHAR="0").start()
    assert child.process is not None
    return child, child.process.pid


def pid_of(owner: bytes | None) -> int | None:
    return int(owner.decode().split(":")[2]) if owner else None


async def holders(redis: ArqRedis) -> dict[str, int | None]:
    """Session → the PID of the bridge process holding its lease."""
    values = await redis.mget([lease_key(sid) for sid in SESSIONS])
    return {sid: pid_of(value) for sid, value in zip(SESSIONS, values, strict=True)}


async def all_driven_by(db: async_sessionmaker[AsyncSession], redis: ArqRedis, pid: int, moved: list[str],
                        since: datetime) -> bool:
    """Every session's lease held by `pid`, every one WORKING, and those `moved` connected again after `since`."""
    if set((await holders(redis)).values()) != {pid}:
        return False
    async with db() as session:
        rows = (await session.execute(select(WaSession.id, WaSession.status, WaSession.connected_at)
                                      .where(WaSession.id.in_(SESSIONS)))).all()
    return all(status == SessionStatus.WORKING and (sid not in moved or (at is not None and at >= since))
               for sid, status, at in rows)


async def held_by(redis: ArqRedis, pid: int) -> list[str]:
    return [sid for sid, holder in (await holders(redis)).items() if holder == pid]


async def link_all(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings) -> None:
    """Link every session through the one bridge running: start, QR code, the simulated phone scans."""
    job = await redis.enqueue_job("ping", _queue_name=bridge_queue(0))
    assert job is not None and await job.result(timeout=60) == "pong"
    for n, sid in enumerate(SESSIONS):
        await add_session(db, sid)
        await enqueue_session_command(redis, settings.bridge_shards, sid, "start")
        await wait_status(db, sid, SessionStatus.SCAN_QR_CODE, timeout=30)
        await enqueue_simulator_control(redis, settings.bridge_shards, sid, "scan", {"phone": f"62817000000{n:02d}"})
        await wait_status(db, sid, SessionStatus.WORKING, timeout=30)


async def queue_round(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings,
                      label: str) -> list[str]:
    texts = []
    for sid in SESSIONS:
        text = f"{label} {sid}"
        await queue_message(db, redis, settings, SendRequest(session_id=sid, to="6285711110000", text=text))
        texts.append(text)
    return texts


async def all_sent(db: async_sessionmaker[AsyncSession]) -> bool:
    async with db() as session:
        statuses = list(await session.scalars(select(Message.status).where(Message.session_id.in_(SESSIONS))))
    return all(status in DONE for status in statuses)


async def take_over(db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings,
                    stop: Callable[[], object], gone: int, heir: int, label: str) -> tuple[float, list[str]]:
    """Stop the bridge `gone`, queue a message per session at once, and wait for `heir` to drive every session;
    the seconds that took, and the texts queued."""
    moved = await held_by(redis, gone)
    stopped_at, clock = utcnow(), time.monotonic()
    stop()
    texts = await queue_round(db, redis, settings, f"during the {label}")
    await until(lambda: all_driven_by(db, redis, heir, moved, stopped_at), timeout=TAKEOVER_S,
                what=f"bridge {heir} to drive every session after the {label}")
    return time.monotonic() - clock, texts


async def health(client: TestClient) -> dict:
    response = await client.get("/api/health")
    assert response.status == 200
    return await response.json()


async def test_bridges_take_over_a_killed_one_share_with_an_added_one_and_drain_into_the_others(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, client: TestClient, tmp_path: Path,
) -> None:
    started: list[Child] = []
    try:
        first, first_pid = bridge(settings, tmp_path / "first.log")
        started.append(first)
        await link_all(db, arq_redis, settings)
        texts = await queue_round(db, arq_redis, settings, "before")

        # A bridge added takes its fair share (two of four), moved over without restarting the first.
        second, second_pid = bridge(settings, tmp_path / "second.log")
        started.append(second)

        async def shared() -> bool:
            return Counter((await holders(arq_redis)).values()) == {first_pid: 2, second_pid: 2}

        await until(shared, timeout=60, what="the added bridge to take its share")

        # SIGKILL the first: its sessions are WORKING on the second within TAKEOVER_S; what is queued meanwhile
        # is sent once.
        after_kill, queued = await take_over(db, arq_redis, settings, first.stop, first_pid, second_pid, "kill")
        texts += queued

        # A third bridge started takes sessions from the second.
        third, third_pid = bridge(settings, tmp_path / "third.log")
        started.append(third)

        async def third_drives() -> bool:
            return third_pid in (await holders(arq_redis)).values()

        await until(third_drives, timeout=60, what="the third bridge to take sessions")

        # Drain the second (SIGTERM, as a deploy does): it hands every session over to the third.
        after_drain, queued = await take_over(db, arq_redis, settings, second.terminate, second_pid, third_pid,
                                              "drain")
        texts += queued
        assert second.wait(timeout=60) == 0

        await until(lambda: all_sent(db), timeout=60, what="every message sent")
        log = read_sent_log(sent_log_file(settings.auth_sessions_dir))
        copies = Counter(str(line["text"]) for line in log)
        assert set(copies) == set(texts) and set(copies.values()) == {1}, copies
        print(f"takeover after SIGKILL {after_kill:.1f} s, after a drain {after_drain:.1f} s")

        async def one_bridge_drives_all() -> bool:
            return (await health(client))["whatsapp"] == {"should_run": 4, "driven": 4, "orphaned": 0,
                                                          "connected": 4, "bridges": 1}

        await until(one_bridge_drives_all, timeout=30, what="health to count one live bridge")  # the killed lapses

        # None drives a session: health says so, with the count, and so does each session's status reason.
        third.stop()  # SIGKILL: its leases stay until its registry entry lapses

        async def orphaned() -> bool:
            return (await health(client))["whatsapp"]["orphaned"] == len(SESSIONS)

        await until(orphaned, timeout=30, what="health to count the orphans")
        body = await health(client)
        assert body["status"] == "degraded"
        assert body["whatsapp"] == {"should_run": 4, "driven": 0, "orphaned": 4, "connected": 0, "bridges": 0}
        assert body["sessions"] == {"WORKING": 4}
        assert await mark_orphans(db, arq_redis) == 4
        async with db() as session:
            reasons = set(await session.scalars(select(WaSession.status_reason).where(WaSession.id.in_(SESSIONS))))
        assert reasons == {ORPHANED_REASON}
    finally:
        for child in started:
            child.stop()
        await asyncio.sleep(0)


async def test_a_frozen_bridge_is_replaced_once_it_stops_counting_as_alive_and_lets_go_when_it_wakes(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, tmp_path: Path,
) -> None:
    """A host that dies or drops off the network: its process cannot be seen to be gone (SIGSTOP keeps its PID),
    so the others wait for its registry entry to lapse, then take its sessions over. Should it come back, it
    finds its leases held by a live bridge and lets its sessions go: never two bridges on one number."""
    if settings.database_is_sqlite:
        # A process frozen inside a write keeps SQLite's one write lock, so nothing on the machine can write:
        # bridges on two hosts share a database server, never a SQLite file. MariaDB's run covers the freeze.
        pytest.skip("a frozen writer holds SQLite's only write lock; the MariaDB run of this test covers it")
    started: list[Child] = []
    try:
        first, first_pid = bridge(settings, tmp_path / "first.log")
        started.append(first)
        await link_all(db, arq_redis, settings)
        second, second_pid = bridge(settings, tmp_path / "second.log")
        started.append(second)

        async def shared() -> bool:
            return Counter((await holders(arq_redis)).values()) == {first_pid: 2, second_pid: 2}

        await until(shared, timeout=60, what="the added bridge to take its share")
        texts = await queue_round(db, arq_redis, settings, "before")

        def freeze() -> None:
            os.kill(first_pid, signal.SIGSTOP)

        took, queued = await take_over(db, arq_redis, settings, freeze, first_pid, second_pid, "freeze")
        texts += queued
        print(f"takeover from a frozen bridge {took:.1f} s")
        assert took > ALIVE_TTL_MS / 1000 - 1  # it waited for the registry entry to lapse: nothing else tells

        os.kill(first_pid, signal.SIGCONT)
        await until(shared, timeout=60, what="the woken bridge to let go, then take its share again")
        await until(lambda: all_sent(db), timeout=60, what="every message sent")
        # A send the frozen bridge was inside when it froze ends when it wakes, after the other bridge sent the
        # message again: both under the id stored with its `sending` mark, and WhatsApp's recipient keeps one.
        ids: dict[str, set[str]] = {}
        for line in read_sent_log(sent_log_file(settings.auth_sessions_dir)):
            ids.setdefault(str(line["text"]), set()).add(str(line["message_id"]))
        assert set(ids) == set(texts) and all(len(one) == 1 for one in ids.values()), ids
        lost = [line for line in log_lines(settings.log_dir, "lease lost to another bridge")
                if line["pid"] == first_pid]
        assert len(lost) == 2, lost  # the two it drove before it froze
    finally:
        for child in started:
            if child.process is not None and child.process.poll() is None:
                os.kill(child.process.pid, signal.SIGCONT)
            child.stop()
