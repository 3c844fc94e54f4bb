"""Redis leases that make one bridge process, and only one, drive each WhatsApp session.

A lease is `SET NX PX` on `wagate:lease:session:<id>` holding the owner's id, renewed well before it expires.
If a bridge dies, its leases lapse after `ttl_ms` and another bridge of the shard may take the sessions over;
during a rolling restart the new process waits for the old one to release or lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

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
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def lease_key(session_id: str) -> str:
    return f"wagate:lease:session:{session_id}"


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
            renewed = await self.redis.eval(_RENEW, 1, lease_key(session_id), self.owner, self.ttl_ms)
            if renewed:
                return True
            self.held.discard(session_id)
        got = await self.redis.set(lease_key(session_id), self.owner, nx=True, px=self.ttl_ms)
        if got:
            self.held.add(session_id)
        return bool(got)

    async def holder(self, session_id: str) -> str | None:
        value = await self.redis.get(lease_key(session_id))
        return value.decode() if isinstance(value, bytes) else value

    async def release(self, session_id: str) -> None:
        self.held.discard(session_id)
        await self.redis.eval(_RELEASE, 1, lease_key(session_id), self.owner)

    async def renew_all(self) -> list[str]:
        """Renew every held lease; returns the sessions whose lease is no longer ours."""
        lost = []
        for session_id in list(self.held):
            if not await self.redis.eval(_RENEW, 1, lease_key(session_id), self.owner, self.ttl_ms):
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

