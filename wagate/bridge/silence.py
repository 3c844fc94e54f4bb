"""Silent sessions: WORKING on paper, yet nothing has come from WhatsApp for long and the connection does not answer.

whatsmeow can keep a websocket that no longer carries anything (a half-open TCP connection, keep-alives that stop
failing loudly, a reconnect it promised and never made); the session then shows WORKING while messages wait at
WhatsApp. The bridge notes the time of every event of a session it drives. On the watchdog's timer (one per
bridge: a pass over a dict, no per-session timer or query), a session expected to be live with no event for
`silent_after_s` is pinged (one round trip to WhatsApp); a quiet session that answers is left alone for another
`silent_after_s`, one that does not is reconnected, its status reason says why, and it is counted in
`wagate_sessions_silent_total`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from wagate.observability import metrics
from wagate.transport.base import (
    CallsAbandoned,
    ConnectFailed,
    Disconnected,
    LoggedOut,
    QRCodeIssued,
    QRCodesExhausted,
    TransportEvent,
    WhatsAppTransport,
)

log = structlog.get_logger(__name__)

PING_TIMEOUT_S = 20.0  # a live connection answers in well under a second; whatsmeow's own IQ timeout is 75 s
PINGS_AT_ONCE = 16  # a bridge of 1,000 quiet sessions pings them a few at a time, not all in one burst
# Events after which the session is not expected to carry traffic (stopped, failed, waiting for a scan).
_NOT_LIVE = (ConnectFailed, LoggedOut, QRCodeIssued, QRCodesExhausted)


class SilenceWatch:
    """When each driven session was last heard from, and the check that finds the silent ones."""

    def __init__(self, transport: WhatsAppTransport, *, silent_after_s: float, mine: Callable[[str], bool],
                 reconnect: Callable[[str, str], Awaitable[None]], shard: int = 0) -> None:
        self.transport, self.silent_after_s, self.mine, self.reconnect = transport, silent_after_s, mine, reconnect
        self.shard = shard
        self._heard: dict[str, tuple[float, bool]] = {}  # session -> (monotonic time of its last event, live)

    def heard(self, event: TransportEvent) -> None:
        """Note an event; whether the session is expected to be live after it (a drop whatsmeow reconnects from
        by itself counts as live: if it never comes back, the session falls silent)."""
        if isinstance(event, CallsAbandoned):
            return
        live = not isinstance(event, _NOT_LIVE) and not (isinstance(event, Disconnected) and not event.will_reconnect)
        self._heard[event.session_id] = (time.monotonic(), live)

    def forget(self, session_id: str) -> None:
        self._heard.pop(session_id, None)

    async def check(self) -> list[str]:
        """One pass: the sessions found silent, each reconnected."""
        now = time.monotonic()
        for sid in [sid for sid in self._heard if not self.mine(sid)]:
            del self._heard[sid]  # stopped or handed over: another bridge (or nobody) drives it now
        quiet = [sid for sid, (at, live) in self._heard.items() if live and now - at >= self.silent_after_s]
        if not quiet:
            return []
        gate = asyncio.Semaphore(PINGS_AT_ONCE)

        async def answers(sid: str) -> bool:
            async with gate:
                return await self._ping(sid)

        replies = await asyncio.gather(*(answers(sid) for sid in quiet))
        silent = []
        for sid, alive in zip(quiet, replies, strict=True):
            if sid not in self._heard:
                continue  # stopped while it was pinged
            if alive:
                self._heard[sid] = (time.monotonic(), True)  # a quiet number, not a dead connection
                continue
            silent.append(sid)
            quiet_for = now - self._heard[sid][0]
            self._heard[sid] = (time.monotonic(), False)  # until its next event
            metrics.count_silent_session(self.shard)
            reason = (f"silent: no event from WhatsApp for {quiet_for:.0f} s and the connection did not answer a "
                      "ping; reconnecting")
            log.warning("whatsapp session silent", session_id=sid, quiet_s=round(quiet_for), shard=self.shard)
            try:
                await self.reconnect(sid, reason)
            except Exception:
                log.exception("silent session not reconnected", session_id=sid)
        return silent

    async def _ping(self, session_id: str) -> bool:
        try:
            async with asyncio.timeout(PING_TIMEOUT_S):
                return await self.transport.ping(session_id)
        except Exception as exc:  # a timeout, or the library's error: either way no answer
            log.info("whatsapp ping failed", session_id=session_id, reason=str(exc) or type(exc).__name__)
            return False
