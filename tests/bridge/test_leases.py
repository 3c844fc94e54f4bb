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
from wagate.queue.names import BRIDGES_KEY
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
        await holder.renew_all()  # both listed as live bridges
        await rival.renew_all()
        assert await holder.acquire(session_id)
        assert not await rival.acquire(session_id)
        assert await holder.acquire(session_id)  # a holder may take its own lease again (renewal)

        lost: list[str] = []

        async def on_lost(sid: str) -> None:
            lost.append(sid)

        holder.start_renewing(on_lost)
        await asyncio.sleep(TTL_MS / 1000 * 1.5)  # longer than the ttl: renewal keeps the lease
        await rival.renew_all()
        assert not await rival.acquire(session_id)
        await redis.delete(lease_key(session_id))  # lapsed (say Redis was away longer than the ttl) …
        assert await rival.acquire(session_id)  # … and taken by another live bridge: the renewer lets go

        async def told() -> bool:
            return lost == [session_id]

        await until(told, timeout=5, what="the lost-lease callback")
        assert session_id not in holder.held
        await holder.close()  # releases only leases it still owns
        assert await holder.holder(session_id) == "bridge-b"

        # A holder that stops renewing without releasing (a killed process) loses the lease once it no longer
        # counts as a live bridge.
        await rival.release(session_id)
        crashed = SessionLeases(redis, "bridge-c", ttl_ms=TTL_MS)
        await crashed.renew_all()
        assert await crashed.acquire(session_id)
        assert not await rival.acquire(session_id)

        async def lapsed() -> bool:
            await rival.renew_all()  # the rival stays alive meanwhile
            return await rival.acquire(session_id)

        await until(lapsed, timeout=5, what="the holder to count as gone")
        assert await crashed.renew_all() == [session_id]  # the old holder learns a live bridge has it
        assert await holder.holder(session_id) == "bridge-b"
        await rival.close()
        assert await redis.get(lease_key(session_id)) is None
    finally:
        await redis.aclose()


class SlowLink:
    """A TCP relay in front of Valkey that holds every chunk `delay_s` each way: a slow network or a busy server."""

    def __init__(self, target_port: int, delay_s: float) -> None:
        self.target_port = target_port
        self.delay_s = delay_s
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w), return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(self.delay_s)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


STALL_SESSIONS = 150
STALL_DELAY_S = 0.005  # 10 ms a round trip: 150 renewals one after another take 1.5 s, the whole lease


async def test_a_renewal_pass_over_many_leases_on_a_slow_link_keeps_every_lease(redis_url: str) -> None:
    """1,000 sessions under load once took a renewal pass longer than the lease: leases lapsed, and the bridge
    stopped sessions no other bridge had taken. Here 150 leases behind a 10 ms round trip, with a 1.5 s lease."""
    fast = Redis.from_url(redis_url)
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    link = SlowLink(port, STALL_DELAY_S)
    slow = Redis(host="127.0.0.1", port=await link.start())
    owner = f"bridge-{uuid.uuid4().hex[:6]}"
    sessions = [f"stall-{owner}-{n}" for n in range(STALL_SESSIONS)]
    leases = SessionLeases(slow, owner, ttl_ms=TTL_MS)
    lost: list[str] = []

    async def on_lost(sid: str) -> None:
        lost.append(sid)

    try:
        async with fast.pipeline(transaction=False) as pipe:
            for sid in sessions:
                pipe.set(lease_key(sid), owner, px=TTL_MS)
            await pipe.execute()
        leases.held.update(sessions)
        leases.start_renewing(on_lost)
        await asyncio.sleep(TTL_MS / 1000 * 2.5)
        holders = await fast.mget([lease_key(sid) for sid in sessions])
        assert lost == [], f"{len(lost)} sessions let go though no other bridge holds them"
        assert holders.count(owner.encode()) == STALL_SESSIONS
        assert leases.held == set(sessions)

        # A lease that lapsed with no other holder (Redis restarted, a pass missed) is taken back at once.
        await fast.delete(*(lease_key(sid) for sid in sessions[:10]))

        async def back() -> bool:
            return (await fast.mget([lease_key(sid) for sid in sessions[:10]])).count(owner.encode()) == 10

        await until(back, timeout=TTL_MS / 1000, what="the lapsed leases to be taken back")
        assert lost == [] and leases.held == set(sessions)
    finally:
        await leases.close()
        await slow.aclose()
        await link.close()
        await fast.delete(*(lease_key(sid) for sid in sessions))
        await fast.aclose()


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
            await redis.zadd(BRIDGES_KEY, {owner: 2**50})  # listed as live: only the pid can tell they are gone
        taken = {name: await leases.acquire(prefix + name) for name in owners}
        assert taken == {name: name in ("gone", "zombie") for name in owners}
        assert await leases.holder(prefix + "gone") == leases.owner
        assert 0 < await redis.pttl(lease_key(prefix + "gone")) <= leases.ttl_ms
        assert await leases.holder(prefix + "alive") == owners["alive"]
    finally:
        zombie.wait()
        await leases.close()
        for name, owner in owners.items():
            await redis.delete(lease_key(prefix + name))
            await redis.zrem(BRIDGES_KEY, owner)
        await redis.aclose()
