"""What the simulated WhatsApp keeps per session, and the base every per-area part of the simulator builds on."""

from __future__ import annotations

import abc
import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from wagate import session_ids
from wagate.errors import SessionNotConnected, TransportError
from wagate.transport.base import (
    Account,
    ConnectFailed,
    Contact,
    EventSink,
    SendResult,
    TransportEvent,
    WhatsAppTransport,
)
from wagate.transport.simulator import wire
from wagate.transport.simulator.wire import ReadMarked, SentMessage, TypingShown

log = structlog.get_logger("wagate.transport.simulator")


@dataclass(eq=False)
class SimSession:
    """What the simulated WhatsApp knows of one session: its link, its connection and its timers."""

    id: str
    state: str = "idle"  # idle | pairing | connecting | connected
    account: Account | None = None
    keys: tuple[str, str, str] | None = None
    qr: str | None = None  # the code on screen now
    pair_code: tuple[str, str] | None = None  # (code without the dash, phone digits)
    unlinked_offline: bool = False  # the phone removed the device while it was not connected
    connect_failures: list[ConnectFailed] = field(default_factory=list)
    send_failure: TransportError | None = None
    send_failures_left: int = 0
    send_limit: tuple[int, float] | None = None  # WhatsApp's limit: (error code, monotonic time it ends)
    silent: bool = False  # the connection carries nothing any more, though it still looks connected
    chats: set[str] = field(default_factory=set)  # chats with a message either way: not new contacts
    backlog: list[TransportEvent] = field(default_factory=list)
    senders: dict[str, Contact] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # the QR rotation and (re)connect timers
    receipt_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    qr_shown: asyncio.Event = field(default_factory=asyncio.Event)  # the login websocket is open


class SimulatorBase(WhatsAppTransport):
    """The state and helpers every per-area part (mixin) of `SimulatorTransport` shares."""

    def __init__(
        self,
        sink: EventSink,
        *,
        state_dir: Path | None = None,
        qr_first_ttl: float = 60.0,
        qr_next_ttl: float = 20.0,
        qr_codes: int = 6,
        receipt_delays: tuple[float | None, float | None] = (0.5, 1.5),
        connect_delay: float = 0.05,
        reconnect_delay: float = 0.2,
        send_latency: float = 0.0,
        speed: float = 1.0,
    ) -> None:
        super().__init__(sink)
        if speed <= 0 or qr_codes < 1:
            raise ValueError("speed must be positive and qr_codes at least 1")
        self.state_dir = state_dir
        self.qr_first_ttl, self.qr_next_ttl, self.qr_codes = qr_first_ttl, qr_next_ttl, qr_codes
        self.receipt_delays = receipt_delays  # (delivered, read) seconds after the send; None: never
        self.connect_delay, self.reconnect_delay = connect_delay, reconnect_delay
        self.send_latency = send_latency
        self.speed = speed
        self.sent_log = wire.SentLog(wire.sent_log_file(state_dir)) if state_dir is not None else None
        self._accepted: dict[tuple[str, str], SendResult] = {}  # (session id, message id) → the send's answer
        self.sent: list[SentMessage] = []
        self.typing: list[TypingShown] = []
        self.read_marks: list[ReadMarked] = []
        self._not_on_whatsapp: set[str] = set()
        self._sessions: dict[str, SimSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)
        self._closed = False

    @abc.abstractmethod
    async def _link(self, s: SimSession, phone: str, push_name: str | None, platform: str) -> Account:
        """Link the session to `phone`'s account (as a scan or a typed pairing code does) and connect it."""

    @abc.abstractmethod
    async def _unlink(self, s: SimSession) -> None:
        """Forget the session's link, its timers and what it held for the reconnect."""

    @abc.abstractmethod
    def _start_connecting(self, s: SimSession, delay: float) -> None:
        """Connect the session after `delay` (divided by `speed`)."""

    def _load(self, session_id: str) -> Account | None:
        if self.state_dir is None:
            return None
        try:
            return wire.load_link(self.state_dir, session_id)
        except (ValueError, KeyError, TypeError):
            log.warning("simulator.link_unreadable", session_id=session_id)
            return None

    def _session(self, session_id: str) -> SimSession:
        s = self._sessions.get(session_id)
        if s is None:
            session_ids.check(session_id)
            s = self._sessions[session_id] = SimSession(session_id, account=self._load(session_id))
        return s

    def _connected(self, session_id: str) -> SimSession:
        s = self._session(session_id)
        if s.state != "connected":
            raise SessionNotConnected()
        return s

    def _on_whatsapp(self, digits: str) -> bool:
        return wire.reachable(digits) and digits not in self._not_on_whatsapp

    def _delay(self, seconds: float) -> float:
        return seconds / self.speed

    async def _deliver(self, s: SimSession, event: TransportEvent) -> None:
        """Hand an event to the sink now, or hold it for the reconnect when the linked session is offline."""
        if s.state == "connected" and not s.backlog and not s.silent:
            await self._emit(event)
        elif s.account is not None:
            s.backlog.append(event)

    async def _emit(self, event: TransportEvent) -> None:
        try:
            await self.sink(event)
        except Exception:
            # The sink is the bridge's code: its failure must not stop the QR rotation or the receipts.
            log.exception("simulator.sink_failed", session_id=event.session_id, event_type=type(event).__name__)

    def _spawn(self, owner: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        for tasks in (self._tasks, owner):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def _stale(self, s: SimSession) -> bool:
        """Whether the running timer was cancelled from inside its own sink call (it cannot cancel itself)."""
        return asyncio.current_task() not in s.tasks

    async def _cancel(self, tasks: set[asyncio.Task[None]]) -> None:
        # A sink may call stop/logout from inside a timer's own event: that timer is left to notice `_stale`.
        current = asyncio.current_task()
        doomed = [t for t in tasks if t is not current]
        tasks.clear()
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
