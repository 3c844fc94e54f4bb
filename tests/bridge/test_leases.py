"""Two bridges of one shard: the lease holder alone drives a session; the other takes over when it goes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from arq.connections import ArqRedis
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import RunningBridge, add_session, start_bridge, until, wait_status
from wagate.bridge.leases import SessionLeases, lease_key, process_owner
from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.queue.jobs import enqueue_session_command
from workers.bridge import COMMAND_TRIES, LEASE_RETRY_S


async def test_two_bridges_one_session_one_driver(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
) -> None:
    first, second = await start_bridge(settings), await start_bridge(settings)
    bridges: list[RunningBridge] = [first, second]
    try:
        await add_session(db, "ls")
        await enqueue_session_command(arq_redis, settings.bridge_shards, "ls", "start")
        await wait_status(db, "ls", SessionStatus.SCAN_QR_CODE)
        [holder] = [b for b in bridges if "ls" in b.bridge.leases.held]
        other = second if holder is first else first
        await holder.sim.scan("ls", phone="6281900000001")
        await wait_status(db, "ls", SessionStatus.WORKING)
        assert await holder.sim.is_connected("ls") and not await other.sim.is_connected("ls")
        assert await arq_redis.get(lease_key("ls")) == holder.bridge.owner.encode()

        # More start commands, whichever bridge takes them: the holder stays the only one connected.
        for _ in range(2):
            await enqueue_session_command(arq_redis, settings.bridge_shards, "ls", "start")

        async def commands_done() -> bool:
            return not await arq_redis.zcard(f"{holder.worker.queue_name}")

        # A command the other bridge picks up goes back to the queue for LEASE_RETRY_S; which bridge polls first
        # is down to timing, so allow every retry it may take (a latency bound is not what this test is about).
        await until(commands_done, timeout=COMMAND_TRIES * LEASE_RETRY_S + 10, what="the start commands")
        await wait_status(db, "ls", SessionStatus.WORKING)
        assert await holder.sim.is_connected("ls") and not await other.sim.is_connected("ls")
        assert "ls" not in other.bridge.leases.held and "ls" not in other.bridge.senders

        await holder.stop()  # releases its lease; the session stays WORKING in the database
        bridges.remove(holder)
        await enqueue_session_command(arq_redis, settings.bridge_shards, "ls", "start")
        await until(lambda: other.sim.is_connected("ls"), what="the other bridge to take over")
        await wait_status(db, "ls", SessionStatus.WORKING)  # the link file: no QR code again
        assert await arq_redis.get(lease_key("ls")) == other.bridge.owner.encode()
    finally:
        for b in bridges:
            await b.stop()


# Long enough that a loaded machine's event loop, stalled a few hundred milliseconds, still renews in time.
TTL_MS = 1500


async def test_a_lease_lapses_when_its_holder_stops_renewing(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    session_id = f"lease-{uuid.uuid4().hex[:6]}"
    try:
        holder = SessionLeases(redis, "bridge-a", ttl_ms=TTL_MS)
        rival = SessionLeases(redis, "bridge-b", ttl_ms=TTL_MS)
        assert await holder.acquire(session_id)
        assert not await rival.acquire(session_id)
        assert await holder.acquire(session_id)  # a holder may take its own lease again (renewal)

        lost: list[str] = []

        async def on_lost(sid: str) -> None:
            lost.append(sid)

        holder.start_renewing(on_lost)
        await asyncio.sleep(TTL_MS / 1000 * 1.5)  # longer than the ttl: renewal keeps the lease
        assert not await rival.acquire(session_id)
        await redis.delete(lease_key(session_id))  # lapsed (say Redis was away longer than the ttl) …
        assert await rival.acquire(session_id)  # … and taken: the renewer notices and lets go

        async def told() -> bool:
            return lost == [session_id]

        await until(told, timeout=5, what="the lost-lease callback")
        assert session_id not in holder.held
        await holder.close()  # releases only leases it still owns
        assert await holder.holder(session_id) == "bridge-b"

        # A holder that stops renewing without releasing (a killed process) loses the lease after the ttl.
        await rival.release(session_id)
        crashed = SessionLeases(redis, "bridge-c", ttl_ms=TTL_MS)
        assert await crashed.acquire(session_id)
        assert not await rival.acquire(session_id)

        async def lapsed() -> bool:
            return await rival.acquire(session_id)

        await until(lapsed, timeout=5, what="the lease to lapse")
        assert await crashed.renew_all() == [session_id]  # the old holder learns it is gone
        assert await holder.holder(session_id) == "bridge-b"
        await rival.close()
        assert await redis.get(lease_key(session_id)) is None
    finally:
        await redis.aclose()


def ended_and_zombie_processes() -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """A process that ran and was reaped, and one killed but not reaped yet (a zombie: its PID still exists)."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie.kill()
    while Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.01)
    return ended, zombie


async def test_a_lease_of_a_process_that_is_gone_is_taken_over_at_once(redis_url: str) -> None:
    """A bridge SIGKILLed and restarted by its supervisor gets its sessions back without waiting for the ttl."""
    redis = Redis.from_url(redis_url)
    dead, zombie = ended_and_zombie_processes()
    host, ns = socket.gethostname(), os.stat("/proc/self/ns/pid").st_ino
    owners = {
        "gone": f"{host}:{ns}:{dead.pid}:0a1b2c3d",
        "zombie": f"{host}:{ns}:{zombie.pid}:0a1b2c3d",
        "alive": f"{host}:{ns}:{os.getppid()}:0a1b2c3d",
        "other-host": f"bridge-2.internal:{ns}:{dead.pid}:0a1b2c3d",
        "other-pid-namespace": f"{host}:4026531836{ns}:{dead.pid}:0a1b2c3d",
        "unreadable": f"{host}:{dead.pid}:0a1b2c3d",
    }
    prefix = f"gone-{uuid.uuid4().hex[:6]}-"
    leases = SessionLeases(redis, process_owner())
    try:
        for name, owner in owners.items():
            await redis.set(lease_key(prefix + name), owner, px=60_000)
        taken = {name: await leases.acquire(prefix + name) for name in owners}
        assert taken == {name: name in ("gone", "zombie") for name in owners}
        assert await leases.holder(prefix + "gone") == leases.owner
        assert 0 < await redis.pttl(lease_key(prefix + "gone")) <= leases.ttl_ms
        assert await leases.holder(prefix + "alive") == owners["alive"]
    finally:
        zombie.wait()
        await leases.close()
        for name in owners:
            await redis.delete(lease_key(prefix + name))
        await redis.aclose()
