"""Graceful shutdown on SIGTERM: the web drains, the bridge lets go, the worker finishes or requeues."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import bcrypt
import psutil
import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import add_session, until, wait_status
from tests.fixtures import make_settings
from tests.observability.processes import Child, log_lines, process_env
from tests.observability.slow_worker import finished_key, started_key
from tests.servers import free_port
from wagate.bridge.leases import LEASE_TTL_MS, lease_key
from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import Role, SessionStatus
from wagate.db.models_identity import User
from wagate.queue.jobs import enqueue_session_command, enqueue_simulator_control
from wagate.queue.names import HEALTH_CHECK_SUFFIX, bridge_queue
from wagate.web.app import redis_client

pytestmark = pytest.mark.slow
QUEUE = "test:queue:slow"


@pytest.fixture
def settings(tmp_path: Path, sqlite_template: Path, redis_url: str) -> Settings:
    database = tmp_path / "wagate.db"
    shutil.copyfile(sqlite_template, database)
    return make_settings(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{database}", REDIS_URL=redis_url)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[ArqRedis]:
    client = redis_client(settings.redis_url or "")
    yield client
    await client.aclose(close_connection_pool=True)


async def answered(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def test_the_web_finishes_a_request_in_flight_when_sigterm_arrives(
    settings: Settings, db: async_sessionmaker[AsyncSession], tmp_path: Path,
) -> None:
    """aiohttp reads nothing more once it stops, so the request is whole; its handler (a login checking a bcrypt
    hash of cost 13, about a second here) is running when SIGTERM lands, and its answer still arrives."""
    async with db() as session, session.begin():
        session.add(User(username="slow", password_hash=bcrypt.hashpw(b"right", bcrypt.gensalt(13)).decode(),
                         role=Role.ADMIN))
    port = free_port()
    web = Child.wagate(settings, tmp_path / "web.out", "web", "--port", str(port), "--shutdown-timeout", "10",
                       "--drain", "0.5").start()
    try:
        await until(lambda: answered(port), timeout=30, what="the web to listen")
        body = b'{"username": "slow", "password": "wrong"}'
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        await asyncio.sleep(0.3)  # the handler is checking the password
        sent = web.terminate()
        await until(lambda: _refused(port), timeout=6, what="the listening socket to close after the drain")
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert web.wait(timeout=15) == 0
        print(f"in-flight login answered and the web exited {time.monotonic() - sent:.2f} s after SIGTERM")
        lines = [line for line in log_lines(settings.log_dir, "request") if line["path"] == "/api/auth/login"]
        assert [line["status"] for line in lines] == [401]
    finally:
        web.stop()


async def _refused(port: int) -> bool:
    return not await answered(port)


async def test_a_sigtermed_bridge_releases_its_leases_so_the_next_takes_over_at_once(
    settings: Settings, db: async_sessionmaker[AsyncSession], redis: ArqRedis, tmp_path: Path,
) -> None:
    first = Child.wagate(settings, tmp_path / "bridge-1.out", "bridge", "--shard", "0").start()
    second = Child.wagate(settings, tmp_path / "bridge-2.out", "bridge", "--shard", "0")
    try:
        await add_session(db, "gs")
        await enqueue_session_command(redis, settings.bridge_shards, "gs", "start")
        await wait_status(db, "gs", SessionStatus.SCAN_QR_CODE, timeout=30)
        await enqueue_simulator_control(redis, settings.bridge_shards, "gs", "scan", {"phone": "6281700000002"})
        await wait_status(db, "gs", SessionStatus.WORKING, timeout=30)
        held_by_first = await redis.get(lease_key("gs"))
        assert held_by_first is not None

        sent = first.terminate()
        assert first.wait(timeout=20) == 0
        stopped_in = time.monotonic() - sent
        assert await redis.get(lease_key("gs")) is None  # released, not left to lapse

        second.start()
        started = time.monotonic()

        async def taken_over() -> bool:
            holder = await redis.get(lease_key("gs"))
            return holder is not None and holder != held_by_first

        await until(taken_over, timeout=LEASE_TTL_MS / 1000 - 5, what="the second bridge to take the lease")
        await wait_status(db, "gs", SessionStatus.WORKING, timeout=20)
        took_over_in = time.monotonic() - started
        print(f"bridge stopped in {stopped_in:.2f} s; the next one drove the session {took_over_in:.2f} s after start")
        assert took_over_in < LEASE_TTL_MS / 1000 / 2
    finally:
        first.stop()
        second.stop()


def slow_worker(settings: Settings, tmp_path: Path, name: str, grace: float) -> Child:
    return Child([sys.executable, "-m", "tests.observability.slow_worker", QUEUE, str(grace)],
                 process_env(settings), tmp_path / f"{name}.out")


async def consuming(redis: ArqRedis) -> None:
    job = await redis.enqueue_job("ping", _queue_name=QUEUE)
    assert job is not None
    assert await job.result(timeout=30) == "pong"


async def test_sigterm_lets_the_running_job_finish_and_takes_no_new_one(
    settings: Settings, redis: ArqRedis, tmp_path: Path,
) -> None:
    worker = slow_worker(settings, tmp_path, "worker", grace=10).start()
    try:
        await consuming(redis)
        job = await redis.enqueue_job("slow", 2.0, "a", _queue_name=QUEUE)
        assert job is not None
        await until(lambda: _exists(redis, started_key("a")), timeout=10, what="the job to start")
        worker.terminate()
        await asyncio.sleep(0.3)
        late = await redis.enqueue_job("slow", 0.1, "late", _queue_name=QUEUE)  # arrives during the drain
        assert worker.wait(timeout=15) == 0
        assert await tries(redis, finished_key("a")) == [b"1"]
        assert await job.result(timeout=1) == "a"
        assert late is not None and await redis.exists(started_key("late")) == 0  # left for the next process
        summary = [line for line in log_lines(settings.log_dir, "job") if line.get("job") == "slow"]
        assert summary[0]["outcome"] == "success" and summary[0]["queue"] == QUEUE and summary[0]["job_try"] == 1
        assert summary[0]["duration_ms"] >= 2000 and summary[0]["wait_ms"] < 1000
    finally:
        worker.stop()


async def test_a_job_still_running_after_the_grace_is_requeued_and_runs_again_at_once(
    settings: Settings, redis: ArqRedis, tmp_path: Path,
) -> None:
    first = slow_worker(settings, tmp_path, "worker-1", grace=1).start()
    second = slow_worker(settings, tmp_path, "worker-2", grace=1)
    try:
        await consuming(redis)
        job = await redis.enqueue_job("slow", 60.0, "b", _queue_name=QUEUE)
        assert job is not None
        await until(lambda: _exists(redis, started_key("b")), timeout=10, what="the job to start")
        first.terminate()
        assert first.wait(timeout=15) == 0
        assert await redis.exists(finished_key("b")) == 0
        assert await redis.zscore(QUEUE, job.job_id) is not None  # back on the queue
        second.start()
        started = time.monotonic()
        assert await job.result(timeout=30) == "b"
        print(f"requeued job finished {time.monotonic() - started:.2f} s after the next worker started")
        assert await tries(redis, finished_key("b")) == [b"2"]
        outcomes = [line["outcome"] for line in log_lines(settings.log_dir, "job") if line.get("job") == "slow"]
        assert outcomes == ["cancelled", "success"]
    finally:
        first.stop()
        second.stop()


async def _exists(redis: ArqRedis, key: str) -> bool:
    return bool(await redis.exists(key))


async def tries(redis: ArqRedis, key: str) -> list[bytes]:
    """The job tries a slow job noted under `key`."""
    return list(await redis.lrange(key, 0, -1))  # type: ignore[misc]  # redis-py types it for sync clients too


async def test_a_neonize_bridge_keeps_no_zombie_child_and_stops_cleanly(
    settings: Settings, redis: ArqRedis, tmp_path: Path,
) -> None:
    """neonize's import runs `uname -a` through a pipe it never closes: the bridge must reap that child."""
    bridge = Child.wagate(settings, tmp_path / "bridge.out", "bridge", "--shard", "0", WA_TRANSPORT="neonize").start()
    try:
        assert bridge.process is not None
        process = psutil.Process(bridge.process.pid)

        async def consuming() -> bool:
            assert bridge.process is not None and bridge.process.poll() is None, bridge.output()
            return bool(await redis.exists(bridge_queue(0) + HEALTH_CHECK_SUFFIX))

        await until(consuming, what="the neonize bridge consuming its queue", timeout=60)
        await asyncio.sleep(1.0)  # `uname -a` has long finished by now
        zombies = [(c.pid, c.name()) for c in process.children(recursive=True) if c.status() == psutil.STATUS_ZOMBIE]
        assert zombies == [], f"zombie children under the bridge: {zombies}"
        bridge.terminate()
        assert bridge.wait(timeout=30) == 0, bridge.output()
    finally:
        bridge.stop()
