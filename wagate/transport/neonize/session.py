"""What the neonize transport keeps per session, and the base every per-area part of the transport builds on."""

from __future__ import annotations

import abc
import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from wagate.errors import SessionNotConnected
from wagate.transport.base import Account, EventSink, TransportEvent, WhatsAppTransport
from wagate.transport.neonize import mapping
from wagate.transport.neonize.loop import whatsapp_reachable
from wagate.transport.neonize.recipients import RecipientBook

if TYPE_CHECKING:
    from neonize.aioze.client import NewAClient
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

log = structlog.get_logger("wagate.transport.neonize")

RECENT_MESSAGES = 500  # per session: enough to quote a message in a reply without a message store
PROBE_FRESH_S = 1.0  # a reachability answer serves every session connecting within this long of it


@dataclass(eq=False)
class SessionState:
    """What the transport tracks about one session beside its neonize client."""

    id: str
    client: NewAClient
    log: Any
    generation: int = 0  # how many clients this session had before `client`: each stuck one is replaced
    wanted: bool = False  # the gateway wants this session connected; False stops supervision and retries
    supervisor: asyncio.Task[None] | None = None
    connect_task: asyncio.Task[Any] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # cuts a backoff wait short on stop
    qr_seen: asyncio.Event = field(default_factory=asyncio.Event)  # the websocket is open (pair_phone needs it)
    qr_count: int = 0
    qr_deadline: asyncio.Task[None] | None = None
    attempt: int = 0
    failures: int = 0
    paired: bool = False
    logging_out: bool = False
    keepalive_lost: bool = False
    restart_reason: str | None = None
    account: Account | None = None
    push_names: dict[str, str] = field(default_factory=dict)
    recent: OrderedDict[str, tuple[str | None, Message]] = field(default_factory=OrderedDict)  # sender as addressed
    recipients: RecipientBook = field(default_factory=RecipientBook)
    in_order: asyncio.Lock = field(default_factory=asyncio.Lock)  # one event handler at a time, in arrival order
    presence_followed: set[str] = field(default_factory=set)  # contacts whose presence was subscribed to


# A handler of one neonize event for one session.
EventHandler = Callable[[SessionState, Any], Awaitable[None]]


class NeonizeBase(WhatsAppTransport):
    """The state and helpers every per-area part (mixin) of `NeonizeTransport` shares."""

    keeps_message_ids = False  # neonize 0.5.2's Go SendMessage takes no SendRequestExtra: whatsmeow picks the id

    def __init__(
        self,
        sink: EventSink,
        *,
        auth_dir: Path,
        qr_timeout_s: float = 160.0,
        connect_stagger_s: float = 0.1,
        reconnect_backoff: Sequence[float] = (1, 2, 5, 10, 30, 60),
        backoff_jitter: float = 0.2,
        pair_wait_s: float = 30.0,
        stop_timeout_s: float = 3.0,
        max_abandoned: int = 32,
        max_open_stores: int = 400,
        network_probe: Callable[[], Awaitable[str | None]] | None = whatsapp_reachable,
    ) -> None:
        super().__init__(sink)
        if not reconnect_backoff:
            raise ValueError("reconnect_backoff needs at least one delay")
        self.auth_dir = Path(auth_dir)
        self.qr_timeout_s = qr_timeout_s
        self.connect_stagger_s = connect_stagger_s
        self.reconnect_backoff = tuple(float(d) for d in reconnect_backoff)
        # Sessions that lost the network together would otherwise retry together, every step of the backoff.
        self.backoff_jitter = backoff_jitter
        self.pair_wait_s = pair_wait_s
        self.stop_timeout_s = stop_timeout_s
        self.max_abandoned = max_abandoned
        # Each Go connect call opens a store (+1 fd, ~180 KB) that outlives it: a session retrying against a
        # reachable but refusing WhatsApp leaks one per try. Under the usual limit of 1,024 fds.
        self.max_open_stores = max_open_stores
        self.stores_left_open = 0
        self.network_probe = network_probe
        self._sessions: dict[str, SessionState] = {}
        # Clients whose Go connect call never returned, with that call's task. Kept referenced for good: the Go
        # core still holds their ctypes callbacks, and a collected client's finalizer would call Stop.
        self._abandoned: list[tuple[NewAClient, asyncio.Task[Any]]] = []
        # pitfall 4: concurrent connects crash the Go core ("concurrent map writes"); stops touch the same map
        self._go_lock = asyncio.Lock()
        self._closed = False
        self._probe: asyncio.Future[str | None] | None = None
        self._probe_answer: tuple[float, str | None] | None = None  # (loop time, answer) of the last probe

    async def _unreachable(self) -> str | None:
        """Why WhatsApp cannot be reached now, or None. One probe answers every session connecting at the same
        time: a bridge restart with 1,000 sessions (or their retries after an outage) opens one TCP connection to
        check, not 1,000."""
        assert self.network_probe is not None
        loop = asyncio.get_running_loop()
        if self._probe_answer is not None and loop.time() - self._probe_answer[0] < PROBE_FRESH_S:
            return self._probe_answer[1]
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self.network_probe())
        probe = self._probe
        answer = await asyncio.shield(probe)
        if self._probe is probe:
            self._probe_answer = (loop.time(), answer)
        return answer

    def _proxy_for(self, session_id: str) -> str | None:
        """The proxy the session's next connect dials through (the proxy part keeps them); None: directly."""
        return None

    def _event_handlers(self) -> dict[type, EventHandler]:
        """neonize event type → handler, registered on every client of a session; each area adds its own."""
        return {}

    @abc.abstractmethod
    async def _halt(self, s: SessionState) -> None:
        """Stop a session's client and its supervision (the client's part of the transport does)."""

    async def _fetch_account(self, s: SessionState) -> Account | None:
        if not await s.client.is_logged_in:  # pitfall 5: get_me() on a session not logged in panics the Go core
            return None
        account = mapping.account_from_device(await s.client.get_me())
        if account is not None:
            s.account = account
        return account

    async def _emit(self, event: TransportEvent) -> None:
        try:
            await self.sink(event)
        except Exception:
            log.exception(
                "transport event sink failed", session_id=event.session_id, transport_event=type(event).__name__
            )

    async def _ready(self, session_id: str) -> SessionState:
        """The session, if it is logged in and connected; the Go calls behind a send need both (pitfall 5)."""
        s = self._sessions.get(session_id)
        if s is None or not await s.client.is_logged_in or not await s.client.is_connected:
            raise SessionNotConnected()
        return s

    def _remember(self, s: SessionState, message_id: str, sender: str | None, message: Message) -> None:
        """Keep a message sent or received, so that a reply can quote it and a read receipt name its sender."""
        s.recent[message_id] = (sender, message)
        s.recent.move_to_end(message_id)
        while len(s.recent) > RECENT_MESSAGES:
            s.recent.popitem(last=False)
