"""Redis leases that make one bridge process, and only one, drive each WhatsApp session.

A lease is `wagate:lease:session:<id>` holding the owner's id with a TTL. Each bridge also keeps an entry in the
registry of live bridges (`BRIDGES_KEY`), which lapses sooner than a lease. Once every `RENEW_EVERY_S` a bridge
renews its registry entry and all of its leases in one Lua script (one round trip, however many sessions), so a
pass never outlasts a lease; a pass that finds a lease of its own lapsed with no other holder, or held by a
process that is not a live bridge, takes it back at once. A session is let go (`on_lost`) only when another
live bridge holds its lease.

Another bridge may take a lease whose holder is no longer a live bridge: the holder stopped renewing for
`ALIVE_TTL_MS` (killed, its host down, cut off from Redis), or it is a process of this host and PID namespace
that no longer exists (killed, crashed: its supervisor is restarting it), which is taken at once.

The owner id names the host, the PID namespace and the process (`host:pidns:pid:random`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import structlog
from redis.asyncio import Redis

from wagate.errors import Conflict
from wagate.queue.names import BRIDGE_SHARDS_KEY, BRIDGES_KEY, lease_key

log = structlog.get_logger(__name__)
LostCallback = Callable[[str], Awaitable[None]]

LEASE_TTL_MS = 30_000
RENEW_EVERY_S = 5.0  # six passes per lease: five may fail (Redis restarting, a stalled loop) before one lapses
# A bridge that renewed nothing for three passes counts as gone, and others take its sessions over; the
# lease outlives it so that a bridge merely slow to renew is not doubled while it still counts as alive.
ALIVE_TTL_MS = 15_000
RENEW_CHUNK = 1000  # leases per script call: each call holds Redis for about a millisecond
LATE_PASS_S = 2.0  # a pass slower than this is logged: renewal is running short of its margin

_NOW = "local t = redis.call('time') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
_LIVE = "local function live(who) local u = redis.call('zscore', KEYS[1], who) return u and tonumber(u) > now end "
# KEYS: registry, shards hash, lease…; ARGV: owner, lease ttl, alive ttl, shard. Registers the bridge, prunes the
# registry of bridges that stopped renewing, then per lease: 1 renewed, 2 taken back (lapsed, or its holder is
# no live bridge), 0 held by another live bridge.
_RENEW_ALL = _NOW + _LIVE + """
local owner, ttl = ARGV[1], tonumber(ARGV[2])
for _, gone in ipairs(redis.call('zrangebyscore', KEYS[1], '-inf', now)) do redis.call('hdel', KEYS[2], gone) end
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
redis.call('zadd', KEYS[1], now + tonumber(ARGV[3]), owner)
redis.call('hset', KEYS[2], owner, ARGV[4])
local out = {}
for i = 3, #KEYS do
  local holder = redis.call('get', KEYS[i])
  if holder == owner then redis.call('pexpire', KEYS[i], ttl) out[#out + 1] = 1
  elseif holder and live(holder) then out[#out + 1] = 0
  else redis.call('set', KEYS[i], owner, 'px', ttl) out[#out + 1] = 2 end
end
return out
"""
# KEYS: registry, lease; ARGV: owner, ttl. Takes the lease if free, ours, or held by no live bridge; else the holder.
_ACQUIRE = _NOW + _LIVE + """
local holder = redis.call('get', KEYS[2])
if holder and holder ~= ARGV[1] and live(holder) then return holder end
redis.call('set', KEYS[2], ARGV[1], 'px', ARGV[2])
return 1
"""
_TAKE_OVER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) "
    "else return false end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class LeaseHeld(Conflict):
    """Another live bridge process drives this session."""


def _pid_namespace() -> str:
    """The inode of this process's PID namespace ("-" where /proc does not say): PIDs compare only within one."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def process_owner() -> str:
    """A lease owner id for this process: `host:pidns:pid:random`."""
    return f"{socket.gethostname()}:{_pid_namespace()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_is_gone(owner: str) -> bool:
    """True only when `owner` certainly was a process of this host and PID namespace that no longer runs."""
    parts = owner.split(":")
    if len(parts) != 4 or parts[0] != socket.gethostname() or parts[1] in ("-", "") or parts[1] != _pid_namespace():
        return False
    try:
        pid = int(parts[2])
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # this process: a lease of ours under another id is not a dead one
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    # A killed child its parent has not reaped yet is a zombie: it runs no more.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class SessionLeases:
    """The leases one bridge holds; `on_lost` is called for a session another live bridge now holds."""

    def __init__(self, redis: Redis, owner: str, *, ttl_ms: int = LEASE_TTL_MS, shard: int = 0) -> None:
        self.redis = redis
        self.owner = owner
        self.ttl_ms = ttl_ms
        self.alive_ms = ttl_ms * ALIVE_TTL_MS // LEASE_TTL_MS
        self.shard = shard
        self.held: set[str] = set()
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self, session_id: str) -> bool:
        """Take the lease unless another live bridge holds it (a process of this host that is gone does not)."""
        got = await self._eval(_ACQUIRE, [BRIDGES_KEY, lease_key(session_id)], self.owner, self.ttl_ms)
        if got != 1:
            holder = got.decode() if isinstance(got, bytes) else str(got)
            got = 0
            if holder_is_gone(holder):
                # Compare-and-set: another bridge may have taken it over in the meantime.
                got = await self._eval(_TAKE_OVER, [lease_key(session_id)], holder, self.owner, self.ttl_ms)
                if got:
                    log.warning("lease taken over from a process that is gone", session_id=session_id,
                                previous=holder)
        if got:
            self.held.add(session_id)
        return bool(got)

    async def _eval(self, script: str, keys: list[str], *args: str | int) -> Any:
        return await cast(Awaitable[Any], self.redis.eval(script, len(keys), *keys, *args))  # type: ignore[arg-type]

    async def holder(self, session_id: str) -> str | None:
        value = await self.redis.get(lease_key(session_id))
        return value.decode() if isinstance(value, bytes) else value

    async def release(self, session_id: str) -> None:
        self.held.discard(session_id)
        await self._eval(_RELEASE, [lease_key(session_id)], self.owner)

    async def renew_all(self) -> list[str]:
        """Register this bridge as live and renew every held lease in one script per `RENEW_CHUNK` leases, in one
        round trip; returns the sessions another live bridge holds now (the others are ours, taken back if they
        had lapsed)."""
        held = list(self.held)
        chunks = [held[i:i + RENEW_CHUNK] for i in range(0, len(held), RENEW_CHUNK)] or [[]]
        async with self.redis.pipeline(transaction=False) as pipe:
            for chunk in chunks:
                pipe.eval(_RENEW_ALL, 2 + len(chunk), BRIDGES_KEY, BRIDGE_SHARDS_KEY, *map(lease_key, chunk),
                          self.owner, str(self.ttl_ms), str(self.alive_ms), str(self.shard))
            results = await pipe.execute()
        lost, taken_back = [], []
        for chunk, outcome in zip(chunks, results, strict=True):
            for session_id, code in zip(chunk, outcome, strict=True):
                if code == 0:
                    lost.append(session_id)
                elif code == 2:
                    taken_back.append(session_id)
        if taken_back:
            log.warning("leases had lapsed with no live holder; taken back", count=len(taken_back),
                        sessions=taken_back[:10])
        self.held.difference_update(lost)
        return lost

    def start_renewing(self, on_lost: LostCallback) -> None:
        every = RENEW_EVERY_S * self.ttl_ms / LEASE_TTL_MS

        async def loop() -> None:
            while True:
                started = time.monotonic()
                try:
                    for session_id in await self.renew_all():
                        log.warning("lease lost to another bridge", session_id=session_id)
                        await on_lost(session_id)
                except Exception as exc:  # Redis down: keep trying; the leases last ttl_ms before lapsing
                    log.warning("lease renewal failed", error=type(exc).__name__)
                took = time.monotonic() - started
                if took > LATE_PASS_S * self.ttl_ms / LEASE_TTL_MS:
                    log.warning("lease renewal pass was slow", seconds=round(took, 2), leases=len(self.held))
                # The next pass starts `every` after this one started: a slow pass does not push renewals late.
                await asyncio.sleep(max(0.0, every - took))

        self._renewer = asyncio.create_task(loop(), name="lease-renewer")

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for session_id in list(self.held):
            with contextlib.suppress(Exception):
                await self.release(session_id)
        with contextlib.suppress(Exception):  # struck off the live bridges at once: nothing waits for a lapse
            await self.redis.zrem(BRIDGES_KEY, self.owner)
            await self.redis.hdel(BRIDGE_SHARDS_KEY, self.owner)  # type: ignore[misc]
