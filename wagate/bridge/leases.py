"""Redis leases that make one bridge process, and only one, drive each WhatsApp session.

A lease is `SET NX PX` on `wagate:lease:session:<id>` holding the owner's id, renewed well before it expires.
If a bridge dies, its leases lapse after `ttl_ms` and another bridge of the shard may take the sessions over;
during a rolling restart the new process waits for the old one to release or lapse.

The owner id names the host, the PID namespace and the process (`host:pidns:pid:random`). A bridge that finds
a lease held by a process of its own host and PID namespace that no longer exists (killed, crashed: its
supervisor is restarting it) takes the lease over at once instead of waiting for it to lapse; on any doubt
(another host, another namespace, a live or unreadable process) it waits, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import structlog
from redis.asyncio import Redis

log = structlog.get_logger(__name__)
LostCallback = Callable[[str], Awaitable[None]]

LEASE_TTL_MS = 30_000
RENEW_EVERY_S = 10.0  # a third of the TTL: two renewals may fail (Redis restarting) before a lease lapses

# Renew or release only a lease we still own: a lapsed lease may already belong to another bridge.
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
_TAKE_OVER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) "
    "else return false end"
)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def lease_key(session_id: str) -> str:
    return f"wagate:lease:session:{session_id}"


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
    """The leases one bridge holds; `on_lost` is called for a session whose lease was taken or lapsed."""

    def __init__(self, redis: Redis, owner: str, *, ttl_ms: int = LEASE_TTL_MS) -> None:
        self.redis = redis
        self.owner = owner
        self.ttl_ms = ttl_ms
        self.held: set[str] = set()
        self._renewer: asyncio.Task[None] | None = None

    async def acquire(self, session_id: str) -> bool:
        if session_id in self.held:
            renewed = await self._script(_RENEW, session_id, self.owner, self.ttl_ms)
            if renewed:
                return True
            self.held.discard(session_id)
        got = await self.redis.set(lease_key(session_id), self.owner, nx=True, px=self.ttl_ms)
        if not got:
            holder = await self.holder(session_id)
            if holder is not None and holder_is_gone(holder):
                # Compare-and-set: another bridge may have taken it over in the meantime.
                got = await self._script(_TAKE_OVER, session_id, holder, self.owner, self.ttl_ms)
                if got:
                    log.warning("lease taken over from a process that is gone", session_id=session_id,
                                previous=holder)
        if got:
            self.held.add(session_id)
        return bool(got)

    async def _script(self, script: str, session_id: str, *args: str | int) -> Any:
        """Run a Lua `script` on the lease of `session_id` (its one key) with `args`."""
        return await cast(Awaitable[Any], self.redis.eval(script, 1, lease_key(session_id), *args))  # type: ignore[arg-type]

    async def holder(self, session_id: str) -> str | None:
        value = await self.redis.get(lease_key(session_id))
        return value.decode() if isinstance(value, bytes) else value

    async def release(self, session_id: str) -> None:
        self.held.discard(session_id)
        await self._script(_RELEASE, session_id, self.owner)

    async def renew_all(self) -> list[str]:
        """Renew every held lease; returns the sessions whose lease is no longer ours."""
        lost = []
        for session_id in list(self.held):
            if not await self._script(_RENEW, session_id, self.owner, self.ttl_ms):
                self.held.discard(session_id)
                lost.append(session_id)
        return lost

    def start_renewing(self, on_lost: LostCallback) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(RENEW_EVERY_S * self.ttl_ms / LEASE_TTL_MS)
                try:
                    for session_id in await self.renew_all():
                        log.warning("lease lost", session_id=session_id)
                        await on_lost(session_id)
                except Exception as exc:  # Redis down: keep trying; the leases last TTL before lapsing
                    log.warning("lease renewal failed", error=type(exc).__name__)

        self._renewer = asyncio.create_task(loop(), name="lease-renewer")

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for session_id in list(self.held):
            with contextlib.suppress(Exception):
                await self.release(session_id)

