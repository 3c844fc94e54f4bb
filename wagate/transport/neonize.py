"""The real WhatsApp transport: one neonize (whatsmeow) client per session, connected one at a time and supervised.

This is the only module of the gateway that imports neonize, and it does so lazily: importing neonize calls
`logging.basicConfig` and starts a log thread, so the bridge configures structlog first (pitfall 10). The
numbered pitfalls cited in comments are those of the team's NEONIZE.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from wagate.errors import InvalidRecipient, SendOutcomeUnknown, SessionNotConnected, TransportError
from wagate.observability import metrics
from wagate.transport import key_store
from wagate.transport import neonize_events as mapping
from wagate.transport.base import (
    Account,
    CallsAbandoned,
    Connected,
    ConnectFailed,
    Contact,
    ContactUpdated,
    Disconnected,
    EventSink,
    LoggedOut,
    MediaKind,
    MessageChanged,
    MessageReceived,
    Paired,
    QRCodeIssued,
    QRCodesExhausted,
    SendResult,
    TransportEvent,
    WhatsAppTransport,
)
from wagate.transport.neonize_groups import NeonizeGroups
from wagate.transport.neonize_recipients import RecipientBook

if TYPE_CHECKING:
    from neonize.aioze.client import NewAClient
    from neonize.proto.Neonize_pb2 import JID
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message

log = structlog.get_logger(__name__)

EXECUTOR_HEADROOM = 32  # threads beyond one per session, for neonize's own short to_thread calls (pitfall 1)
FIRST_QR_TTL_S = 60.0  # whatsmeow's first QR code lives about 60 s, each of the next five about 20 s
NEXT_QR_TTL_S = 20.0
RECENT_MESSAGES = 500  # per session: enough to quote a message in a reply without a message store
WHATSAPP_ENDPOINT = ("web.whatsapp.com", 443)
_JID_SERVERS = frozenset({"s.whatsapp.net", "g.us", "lid", "newsletter", "broadcast"})
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")

_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ThreadPoolExecutor] = weakref.WeakKeyDictionary()


def prepare_event_loop(sessions: int = 0) -> None:
    """Bridge start-up: size the default executor for `sessions` clients and hand neonize the running loop.

    Safe to call again; the transport calls it itself whenever it adds a session.
    """
    loop = asyncio.get_running_loop()
    needed = sessions + EXECUTOR_HEADROOM
    current = _executors.get(loop)
    if current is None or current._max_workers < needed:
        # A ThreadPoolExecutor cannot grow, so a larger one replaces it; threads still blocked in the old one
        # (live clients) finish there, and shutdown(wait=False) lets them exit once their calls return.
        size = max(needed, 2 * current._max_workers) if current else needed
        executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="wagate-wa")
        loop.set_default_executor(executor)  # pitfall 1: each live client holds one thread for its lifetime
        _executors[loop] = executor
        if current is not None:
            current.shutdown(wait=False)
    from neonize.aioze import events as neonize_events

    neonize_events.event_global_loop = loop  # pitfall 2: events go to this module global's loop only


async def whatsapp_reachable(timeout_s: float = 10.0) -> str | None:
    """None when a TCP connection to WhatsApp's websocket host opens; otherwise why not."""
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(*WHATSAPP_ENDPOINT)
    except (OSError, TimeoutError) as exc:
        return f"web.whatsapp.com unreachable: {str(exc) or type(exc).__name__}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def recipient_jid(to: str) -> JID:
    """A JID proto from a phone number (digits, maybe with +, spaces or dashes) or a JID string."""
    from neonize.utils.jid import build_jid

    to = to.strip()
    if "@" in to:
        user, _, server = to.partition("@")
        user = user.split(":", 1)[0].split(".", 1)[0]  # the device and agent parts address a device, not a chat
        if server not in _JID_SERVERS or not user or (server in {"s.whatsapp.net", "lid"} and not user.isdigit()):
            raise InvalidRecipient(f"Not a WhatsApp JID: {to!r}")
        return build_jid(user, server)
    digits = phone_digits(to)
    if digits is None:
        raise InvalidRecipient(f"Not a phone number or JID: {to!r}")
    return build_jid(digits)


def phone_digits(phone: str) -> str | None:
    """The digits of an international phone number, or None when it is not one."""
    digits = _PHONE_PUNCTUATION.sub("", phone.strip()).removeprefix("+")
    return digits if digits.isdigit() and 6 <= len(digits) <= 15 else None


# whatsmeow's SendMessage errors raised before the message node is written to the socket, or when the server
# answers it with an error (it then has not taken the message): sending again cannot show it twice. Any other
# failure (above all "timed out waiting for message send response") may come after WhatsApp took it.
_SEND_REFUSED = (
    "websocket not connected", "not logged in", "device jid", "server returned error", "failed to get device",
    "usync", "failed to encrypt", "unknown server", "invalid jid", "parse jid", "failed to get group", "marshal",
    "prekey", "no signal session",
)


def send_error(exc: Exception) -> TransportError:
    """Our error for a failed send: retryable only where whatsmeow certainly did not hand the message over."""
    text = str(exc) or type(exc).__name__
    if any(s in text.lower() for s in _SEND_REFUSED):
        return transport_error(exc)
    return SendOutcomeUnknown(f"WhatsApp may have the message: {text}")


def transport_error(exc: Exception) -> TransportError:
    """Our error for a neonize/whatsmeow failure, judged from whatsmeow's error text."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    # whatsmeow's ErrNotLoggedIn reads "the store doesn't contain a device JID": the session, not the message
    if any(s in lowered for s in ("not logged in", "not connected", "websocket", "client is nil", "device jid")):
        return SessionNotConnected(text)
    if any(s in lowered for s in ("invalid jid", "unknown server", "unknown user server", "parse jid")):
        return InvalidRecipient(text)
    return TransportError(text)


@dataclass(eq=False)
class _Session:
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


class NeonizeTransport(NeonizeGroups, WhatsAppTransport):
    """WhatsApp over neonize: QR pairing, supervised reconnects, event mapping and sends for many sessions."""

    keeps_message_ids = False  # neonize 0.5.2's Go SendMessage takes no SendRequestExtra: whatsmeow picks the id

    def __init__(
        self,
        sink: EventSink,
        *,
        auth_dir: Path,
        qr_timeout_s: float = 160.0,
        connect_stagger_s: float = 0.1,
        reconnect_backoff: Sequence[float] = (1, 2, 5, 10, 30, 60),
        pair_wait_s: float = 30.0,
        stop_timeout_s: float = 3.0,
        max_abandoned: int = 32,
        network_probe: Callable[[], Awaitable[str | None]] | None = whatsapp_reachable,
    ) -> None:
        super().__init__(sink)
        if not reconnect_backoff:
            raise ValueError("reconnect_backoff needs at least one delay")
        self.auth_dir = Path(auth_dir)
        self.qr_timeout_s = qr_timeout_s
        self.connect_stagger_s = connect_stagger_s
        self.reconnect_backoff = tuple(float(d) for d in reconnect_backoff)
        self.pair_wait_s = pair_wait_s
        self.stop_timeout_s = stop_timeout_s
        self.max_abandoned = max_abandoned
        self.network_probe = network_probe
        self._sessions: dict[str, _Session] = {}
        # Clients whose Go connect call never returned, with that call's task. Kept referenced for good: the Go
        # core still holds their ctypes callbacks, and a collected client's finalizer would call Stop.
        self._abandoned: list[tuple[NewAClient, asyncio.Task[Any]]] = []
        # pitfall 4: concurrent connects crash the Go core ("concurrent map writes"); stops touch the same map
        self._go_lock = asyncio.Lock()
        self._closed = False

    # --- sessions and their clients ---------------------------------------------------------------------

    def client(self, session_id: str) -> NewAClient:
        """The one neonize client of a session, created (with its handlers) on first use."""
        return self._session(session_id).client

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is not None:
            return session  # pitfall 6: never a second client object for one session id
        if self._closed:
            raise TransportError("The WhatsApp transport is closed")
        prepare_event_loop(len(self._sessions) + len(self._abandoned) + 1)
        self.auth_dir.mkdir(parents=True, exist_ok=True)
        session = _Session(id=session_id, client=self._new_client(session_id, 0), log=log.bind(session_id=session_id))
        self._register_handlers(session)
        self._sessions[session_id] = session
        return session

    def _new_client(self, session_id: str, generation: int) -> NewAClient:
        """A neonize client on the session's store. A replacement gets a uuid of its own (the Go core's key for
        its clients), so that the stuck client it replaces, still in the Go core's map, is never confused with it."""
        from neonize.aioze.client import NewAClient

        uuid = session_id if generation == 0 else f"{session_id}~{generation}"
        return NewAClient(str(key_store.neonize_store(self.auth_dir, session_id)), uuid=uuid)

    @property
    def abandoned_calls(self) -> int:
        """Go connect calls given up on (they hold a thread each until the process ends)."""
        return len(self._abandoned)

    async def _abandon(self, s: _Session, task: asyncio.Task[Any]) -> None:
        """Give up on a connect call that did not end on Stop, and give the session a fresh client.

        whatsmeow leaves its QR channel open on a stop during the QR phase, and neonize's Go core then waits on
        it forever; after a pairing error or the last QR code it waits forever for a device id (NEONIZE.md).
        """
        self._abandoned.append((s.client, task))
        s.generation += 1
        s.client, s.connect_task = self._new_client(s.id, s.generation), None
        self._register_handlers(s)
        prepare_event_loop(len(self._sessions) + len(self._abandoned))  # each stuck call holds a thread
        count = len(self._abandoned)
        s.log.error("whatsapp connect call abandoned: it did not end on stop", abandoned=count,
                    limit=self.max_abandoned)
        metrics.count_transport_incident("abandoned_call")
        if count >= self.max_abandoned:
            await self._emit(CallsAbandoned(session_id=s.id, count=count, limit=self.max_abandoned))

    def _register_handlers(self, s: _Session) -> None:
        from neonize.aioze import events as ev

        handlers: dict[type, Callable[[_Session, Any], Awaitable[None]]] = {
            ev.ConnectedEv: self._on_connected,
            ev.PairStatusEv: self._on_pair_status,
            ev.LoggedOutEv: self._on_logged_out,
            ev.ConnectFailureEv: self._on_connect_failure,
            ev.TemporaryBanEv: self._on_temporary_ban,
            ev.ClientOutdatedEv: self._on_client_outdated,
            ev.DisconnectedEv: self._on_disconnected,
            ev.StreamReplacedEv: self._on_stream_replaced,
            ev.KeepAliveTimeoutEv: self._on_keepalive_timeout,
            ev.KeepAliveRestoredEv: self._on_keepalive_restored,
            ev.MessageEv: self._on_message,
            ev.ReceiptEv: self._on_receipt,
            ev.JoinedGroupEv: self._on_joined_group,
            ev.GroupInfoEv: self._on_group_info,
        }
        for event_type, handler in handlers.items():
            s.client.event(event_type)(self._guarded(s, s.client, event_type.__name__, handler))
        s.client.event.qr(self._guarded(s, s.client, "QR", self._on_qr))  # the live QR; QREv arrives late

    @staticmethod
    def _guarded(
        s: _Session, client: NewAClient, name: str, handler: Callable[[_Session, Any], Awaitable[None]]
    ) -> Callable[[Any, Any], Awaitable[None]]:
        async def run(_client: Any, payload: Any) -> None:
            if s.client is not client:
                return  # an abandoned client's late event: the session has moved on
            # neonize starts each handler fire-and-forget from the Go thread, in the order WhatsApp produced the
            # events; the lock (FIFO, taken before the first await) keeps that order past the handlers' awaits.
            async with s.in_order:
                try:
                    await handler(s, payload)
                except Exception:
                    s.log.exception("whatsapp event handler failed", neonize_event=name)  # pitfall 3: never dropped

        return run

    async def _emit(self, event: TransportEvent) -> None:
        try:
            await self.sink(event)
        except Exception:
            log.exception(
                "transport event sink failed", session_id=event.session_id, transport_event=type(event).__name__
            )

    # --- connecting, supervision, stopping --------------------------------------------------------------

    async def connect(self, session_id: str) -> None:
        s = self._session(session_id)
        if s.supervisor is not None and not s.supervisor.done():
            if s.wanted:
                return
            await asyncio.shield(s.supervisor)  # a stop is under way: let it finish, then start afresh
        s.wanted, s.failures = True, 0
        s.wake.clear()
        s.supervisor = asyncio.create_task(self._supervise(s), name=f"whatsapp-session:{session_id}")

    async def _supervise(self, s: _Session) -> None:
        """Connect, and after every failure wait a growing delay and connect again, until stopped (pitfall 9)."""
        try:
            while s.wanted:
                reason = await self._attempt(s)
                if not s.wanted:
                    break
                delay = self.reconnect_backoff[min(s.failures, len(self.reconnect_backoff) - 1)]
                s.failures += 1
                s.log.warning("whatsapp connect failed", reason=reason, retry_in=delay)
                await self._emit(ConnectFailed(session_id=s.id, reason=reason, retry_in=delay))
                s.wake.clear()
                with contextlib.suppress(TimeoutError):  # not wait_for, which can swallow a cancel (bridge/sender.py)
                    async with asyncio.timeout(delay):
                        await s.wake.wait()
        except Exception:
            s.log.exception("whatsapp session supervisor failed")
            s.wanted = False

    async def _attempt(self, s: _Session) -> str:
        """One connection's life: returns why it ended."""
        s.attempt += 1
        s.qr_count, s.paired, s.restart_reason, s.keepalive_lost = 0, False, None, False
        s.qr_seen.clear()
        if self.network_probe is not None:
            # Each Go connect opens a store it never closes (+1 fd, ~180 KB): while WhatsApp cannot be reached,
            # attempts are checked from Python and the Go core is not called.
            unreachable = await self.network_probe()
            if unreachable:
                return unreachable
        async with self._go_lock:  # pitfall 4: one connect at a time, a stagger apart
            if not s.wanted:
                return "stopped"
            from neonize.exc import NeonizeError

            try:
                task = await s.client.connect()
            except NeonizeError as exc:
                return str(exc) or type(exc).__name__
            s.connect_task = task
            await asyncio.sleep(self.connect_stagger_s)
        # pitfall 7: wait for the task, never cancel it (asyncio.wait leaves it running if we are cancelled)
        await asyncio.wait({task})
        if s.restart_reason:
            return s.restart_reason
        if task.cancelled():
            return "connection task cancelled"
        error = task.exception()
        return (str(error) or type(error).__name__) if error else "connection closed"

    async def _halt(self, s: _Session) -> None:
        """Stop a session's client and supervision; returns within `stop_timeout_s` or so, whatever the Go core does.

        A connect call that does not end on Stop is abandoned and the session gets a fresh client (`_abandon`).
        """
        s.wanted = False
        s.wake.set()
        if s.qr_deadline is not None and s.qr_deadline is not asyncio.current_task():
            s.qr_deadline.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stop_timeout_s
        while True:
            async with self._go_lock:
                await s.client.stop()  # pitfall 7: stop through the Go core, never by cancelling the task
            task = s.connect_task
            if task is None or task.done():
                break
            # a connect that had not reached the Go core yet when Stop ran would start anyway: stop it again
            remaining = deadline - loop.time()
            if remaining <= 0:
                await self._abandon(s, task)
                break
            await asyncio.wait({task}, timeout=min(1.0, remaining))
            if task.done():
                break
        sup = s.supervisor
        if sup is not None and sup is not asyncio.current_task() and not sup.done():
            # It waits on the connect task; an abandoned one never ends, and waiting on it was all it did.
            done, _ = await asyncio.wait({sup}, timeout=max(deadline - loop.time(), 0.1))
            if not done:
                sup.cancel()
                await asyncio.wait({sup})

    async def stop(self, session_id: str) -> None:
        s = self._sessions.get(session_id)
        if s is not None:
            await self._halt(s)

    async def close(self) -> None:
        self._closed = True
        for s in list(self._sessions.values()):
            try:
                await self._halt(s)
            except Exception:
                s.log.exception("whatsapp session did not stop cleanly")

    async def logout(self, session_id: str) -> None:
        """Unlink the device (whatsmeow deletes its keys from the store) and stop the session.

        A linked session must be connected to be unlinked: WhatsApp has to be told.
        """
        s = self._session(session_id)
        if await s.client.is_logged_in:
            if not await s.client.is_connected:
                raise SessionNotConnected("Connect the session before logging it out")
            from neonize.exc import NeonizeError

            s.logging_out = True
            try:
                await s.client.logout()
            except NeonizeError as exc:
                s.logging_out = False
                raise transport_error(exc) from exc
        await self._halt(s)
        s.logging_out, s.account = False, None
        await self._emit(LoggedOut(session_id=session_id, reason="logged out by request"))

    async def is_connected(self, session_id: str) -> bool:
        s = self._sessions.get(session_id)
        return s is not None and bool(await s.client.is_connected)

    async def account(self, session_id: str) -> Account | None:
        s = self._sessions.get(session_id)
        if s is None:
            return None
        return await self._fetch_account(s)

    async def _fetch_account(self, s: _Session) -> Account | None:
        if not await s.client.is_logged_in:  # pitfall 5: get_me() on a session not logged in panics the Go core
            return None
        account = mapping.account_from_device(await s.client.get_me())
        if account is not None:
            s.account = account
        return account

    # --- events from neonize ----------------------------------------------------------------------------

    async def _on_qr(self, s: _Session, code: bytes) -> None:
        if not s.wanted:
            return
        s.qr_count += 1
        s.qr_seen.set()
        first = s.qr_count == 1
        if first:
            # pitfall 8: Python is never told when the codes run out, so the transport keeps its own deadline
            s.qr_deadline = asyncio.create_task(self._qr_deadline(s, s.attempt), name=f"whatsapp-qr:{s.id}")
        expires_in = FIRST_QR_TTL_S if first else NEXT_QR_TTL_S
        await self._emit(QRCodeIssued(session_id=s.id, code=code.decode(), expires_in=expires_in))

    async def _qr_deadline(self, s: _Session, attempt: int) -> None:
        await asyncio.sleep(self.qr_timeout_s)
        if s.attempt != attempt or not s.wanted or s.paired:
            return
        s.log.info("whatsapp qr codes exhausted", qr_codes=s.qr_count)
        await self._halt(s)
        await self._emit(QRCodesExhausted(session_id=s.id))

    async def _on_pair_status(self, s: _Session, ev: Any) -> None:
        if ev.Status != 2:  # PairStatus.SUCCESS
            # whatsmeow closes the QR channel on a pairing error and neonize's Go core then waits forever: start
            # again on a fresh client, which shows new codes.
            s.log.warning("whatsapp pairing failed; showing new QR codes", error=ev.Error)
            if s.wanted:
                await self._halt(s)
                await self.connect(s.id)
            return
        s.paired = True
        await self._emit(Paired(session_id=s.id, account=mapping.account_from_pair(ev)))

    async def _on_connected(self, s: _Session, ev: Any) -> None:
        s.paired, s.failures, s.keepalive_lost = True, 0, False
        account = await self._fetch_account(s)
        if account is None:
            s.log.error("whatsapp connected but the account is unknown")
            return
        await self._emit(Connected(session_id=s.id, account=account))
        await self._announce_presence(s)

    async def _announce_presence(self, s: _Session) -> None:
        """whatsmeow sends no presence by itself, and until one is sent contacts see no name (presence.go)."""
        from neonize.exc import NeonizeError
        from neonize.utils.enum import Presence

        try:
            await s.client.send_presence(Presence.AVAILABLE)
        except NeonizeError as exc:
            s.log.warning("whatsapp presence not sent", reason=str(exc))

    async def _on_logged_out(self, s: _Session, ev: Any) -> None:
        if s.logging_out:
            return  # `logout` reports this itself
        reason = mapping.failure_reason_name(ev.Reason)
        s.wanted, s.account = False, None
        # A LoggedOut event says whether it came on connecting; a ConnectFailure handed on here has no such field.
        on_connect = ev.OnConnect if "OnConnect" in ev.DESCRIPTOR.fields_by_name else True
        s.log.warning("whatsapp session logged out", reason=reason, on_connect=on_connect)
        await self._emit(LoggedOut(session_id=s.id, reason=reason))
        await self._halt(s)

    async def _on_connect_failure(self, s: _Session, ev: Any) -> None:
        name = mapping.failure_reason_name(ev.Reason)
        reason = f"{name}: {ev.Message}" if ev.Message else name
        if ev.Reason in mapping.LOGGED_OUT_REASONS:
            await self._on_logged_out(s, ev)
        elif ev.Reason in mapping.PERMANENT_FAILURE_REASONS:
            await self._fail_permanently(s, reason)
        elif s.wanted:
            # whatsmeow does not reconnect after a <failure> stanza: restart the client through supervision
            s.restart_reason = reason
            async with self._go_lock:
                await s.client.stop()

    async def _on_temporary_ban(self, s: _Session, ev: Any) -> None:
        await self._fail_permanently(s, f"temporarily banned (code {ev.Code}, expires in {ev.Expire} s)")

    async def _on_client_outdated(self, s: _Session, ev: Any) -> None:
        await self._fail_permanently(s, "client outdated: update neonize")

    async def _fail_permanently(self, s: _Session, reason: str) -> None:
        s.wanted = False
        s.log.error("whatsapp connect failed permanently", reason=reason)
        await self._emit(ConnectFailed(session_id=s.id, reason=reason, permanent=True))
        await self._halt(s)

    async def _on_disconnected(self, s: _Session, ev: Any) -> None:
        if s.wanted:  # whatsmeow reconnects by itself after an unexpected drop
            await self._emit(Disconnected(session_id=s.id, reason="connection lost", will_reconnect=True))

    async def _on_stream_replaced(self, s: _Session, ev: Any) -> None:
        # Another connection took over this device; fighting it back would loop, so the session stops.
        s.wanted = False
        reason = "another client took over this WhatsApp session (stream replaced); start it again to take it back"
        s.log.warning("whatsapp session replaced by another connection")
        await self._emit(Disconnected(session_id=s.id, reason=reason, will_reconnect=False))
        await self._halt(s)

    async def _on_keepalive_timeout(self, s: _Session, ev: Any) -> None:
        if s.wanted and not s.keepalive_lost:
            s.keepalive_lost = True
            reason = f"keepalive timeout ({ev.ErrorCount} missed)"
            await self._emit(Disconnected(session_id=s.id, reason=reason, will_reconnect=True))

    async def _on_keepalive_restored(self, s: _Session, ev: Any) -> None:
        if s.keepalive_lost:
            await self._on_connected(s, ev)

    async def _on_message(self, s: _Session, ev: Any) -> None:
        received = mapping.message_event(s.id, ev)
        if isinstance(received, str):
            # The protocol's own traffic is consumed here; a kind the gateway does not know is logged, never
            # passed on as a customer's message.
            if received.startswith("unknown"):
                s.log.info("whatsapp message of an unhandled kind dropped", kind=received, wa_message_id=ev.Info.ID)
            return
        received = await self._with_phone_number(s, received)
        if isinstance(received, MessageChanged):
            await self._emit(received)
            return
        # Kept as addressed (a LID in LID-addressed groups): a read receipt or a quote must name the sender so.
        addressed = mapping.jid_to_str(ev.Info.MessageSource.Sender)
        self._remember(s, received.message_id, addressed, mapping.unwrap(ev.Message))
        # The message first: whatsmeow has acknowledged it to WhatsApp already, so storing it comes before
        # anything else (neonize does not use whatsmeow's synchronous acknowledgement).
        await self._emit(received)
        contact = mapping.contact_from_message(ev)
        if contact is not None and s.push_names.get(contact.jid) != contact.push_name:
            s.push_names[contact.jid] = contact.push_name or ""
            await self._emit(ContactUpdated(session_id=s.id, contact=contact))

    async def _with_phone_number(
        self, s: _Session, event: MessageReceived | MessageChanged
    ) -> MessageReceived | MessageChanged:
        """The event with its sender's phone-number JID, from whatsmeow's LID map where WhatsApp sent only a LID."""
        if not event.sender.endswith("@lid"):
            return event
        from neonize.exc import NeonizeError

        try:
            phone = await s.recipients.phone_of_lid(s.client, event.sender)
        except NeonizeError as exc:
            s.log.warning("whatsapp lid not resolved", lid=event.sender, reason=str(exc))
            return event
        if phone is None:
            return event
        if isinstance(event, MessageReceived):
            return dataclasses.replace(event, sender=phone, sender_lid=event.sender)
        return dataclasses.replace(event, sender=phone)

    async def _on_receipt(self, s: _Session, ev: Any) -> None:
        receipt = mapping.receipt_received(s.id, ev)
        if receipt is not None:
            await self._emit(receipt)

    # --- sending ----------------------------------------------------------------------------------------

    async def _ready(self, session_id: str) -> _Session:
        """The session, if it is logged in and connected; the Go calls behind a send need both (pitfall 5)."""
        s = self._sessions.get(session_id)
        if s is None or not await s.client.is_logged_in or not await s.client.is_connected:
            raise SessionNotConnected()
        return s

    def _remember(self, s: _Session, message_id: str, sender: str | None, message: Message) -> None:
        s.recent[message_id] = (sender, message)
        s.recent.move_to_end(message_id)
        while len(s.recent) > RECENT_MESSAGES:
            s.recent.popitem(last=False)

    def _quote(self, s: _Session, message_id: str) -> ContextInfo:
        """The reply context for `message_id`: WhatsApp shows the quote from the copy sent along with it."""
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ContextInfo, Message

        context = ContextInfo(stanzaID=message_id)
        known = s.recent.get(message_id)
        if known is not None:
            sender, original = known
            quoted = Message()
            quoted.CopyFrom(original)
            kind, sub = mapping.message_type(quoted)
            if sub is not None and "contextInfo" in sub.DESCRIPTOR.fields_by_name:
                sub.ClearField("contextInfo")  # a quote carries the message, not the quote it made itself
            context.quotedMessage.CopyFrom(quoted)
            if sender:
                context.participant = sender
        return context

    async def _send(self, s: _Session, to: str, message: Message) -> SendResult:
        # The sends ignore their `message_id`: neonize 0.5.2's send_message calls the Go SendMessage(uuid, to, len,
        # msg, len), which takes no SendRequestExtra (whatsmeow's way to choose the id), so whatsmeow makes a new
        # id each time and the sender stores the one answered here (README "Fault tolerance").
        from neonize.exc import NeonizeError

        jid = await self._recipient(s, to)
        try:
            response = await s.client.send_message(jid, message)
        except NeonizeError as exc:
            raise send_error(exc) from exc
        own = f"{s.account.phone}@s.whatsapp.net" if s.account else None
        self._remember(s, response.ID, own, message)
        return SendResult(message_id=response.ID, timestamp=mapping.epoch_seconds(response.Timestamp))

    async def _recipient(self, s: _Session, to: str) -> JID:
        """The JID to send to: a phone number (digits, or its s.whatsapp.net JID) as WhatsApp answers for it."""
        from neonize.exc import NeonizeError

        jid = recipient_jid(to)
        if jid.Server != "s.whatsapp.net":
            return jid  # groups, LIDs, newsletters: WhatsApp's own ids already
        try:
            found = await s.recipients.resolve(s.client, jid.User)
        except NeonizeError as exc:
            raise transport_error(exc) from exc  # nothing was sent: safe to retry
        return recipient_jid(found)

    async def send_text(
        self, session_id: str, to: str, text: str, *, reply_to: str | None = None, message_id: str | None = None
    ) -> SendResult:
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage, Message

        s = await self._ready(session_id)
        if reply_to is None:
            message = Message(conversation=text)  # a str would be scanned for @mentions; this is sent as is
        else:
            message = Message(extendedTextMessage=ExtendedTextMessage(text=text, contextInfo=self._quote(s, reply_to)))
        return await self._send(s, to, message)

    async def send_media(
        self,
        session_id: str,
        to: str,
        kind: MediaKind,
        data: bytes,
        *,
        mimetype: str,
        filename: str | None = None,
        caption: str | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        from neonize.exc import NeonizeError
        from neonize.proto.waE2E import WAWebProtobufsE2E_pb2 as e2e
        from neonize.utils.enum import MediaType

        s = await self._ready(session_id)
        await self._recipient(s, to)  # fail on a bad recipient (or one not on WhatsApp) before uploading
        media_types = {
            "image": MediaType.MediaImage,
            "video": MediaType.MediaVideo,
            "audio": MediaType.MediaAudio,
            "document": MediaType.MediaDocument,
        }
        if kind not in media_types:
            raise TransportError(f"Unknown media kind {kind!r}")
        try:
            # Built here rather than with send_image & co: those parse @mentions out of captions, need ffmpeg
            # for audio and video, and sniff the MIME type; the caller already knows it.
            upload = await s.client.upload(data, media_types[kind])
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        common: dict[str, Any] = {
            "URL": upload.url,
            "directPath": upload.DirectPath,
            "mediaKey": upload.MediaKey,
            "fileEncSHA256": upload.FileEncSHA256,
            "fileSHA256": upload.FileSHA256,
            "fileLength": upload.FileLength,
            "mimetype": mimetype,
        }
        if kind == "image":
            message = e2e.Message(imageMessage=e2e.ImageMessage(caption=caption, **common))
        elif kind == "video":
            message = e2e.Message(videoMessage=e2e.VideoMessage(caption=caption, **common))
        elif kind == "audio":
            message = e2e.Message(audioMessage=e2e.AudioMessage(**common))  # WhatsApp audio has no caption
        else:
            message = e2e.Message(
                documentMessage=e2e.DocumentMessage(
                    fileName=filename or "file", title=filename, caption=caption, **common
                )
            )
        return await self._send(s, to, message)

    async def send_location(
        self,
        session_id: str,
        to: str,
        latitude: float,
        longitude: float,
        *,
        name: str | None = None,
        address: str | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import LocationMessage, Message

        s = await self._ready(session_id)
        location = LocationMessage(degreesLatitude=latitude, degreesLongitude=longitude, name=name, address=address)
        return await self._send(s, to, Message(locationMessage=location))

    async def mark_read(self, session_id: str, chat: str, sender: str, message_ids: Sequence[str]) -> None:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import ReceiptType

        if not message_ids:
            return
        s = await self._ready(session_id)
        known = s.recent.get(message_ids[0])
        addressed = known[0] if known is not None and known[0] else sender  # a LID where WhatsApp used one
        chat_jid, sender_jid = recipient_jid(chat), recipient_jid(addressed)
        try:
            await s.client.mark_read(*message_ids, chat=chat_jid, sender=sender_jid, receipt=ReceiptType.READ)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def set_typing(self, session_id: str, chat: str, typing: bool) -> None:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import ChatPresence, ChatPresenceMedia

        s = await self._ready(session_id)
        state = ChatPresence.CHAT_PRESENCE_COMPOSING if typing else ChatPresence.CHAT_PRESENCE_PAUSED
        try:
            await s.client.send_chat_presence(recipient_jid(chat), state, ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT)
        except NeonizeError as exc:
            raise transport_error(exc) from exc

    async def on_whatsapp(self, session_id: str, phones: Sequence[str]) -> dict[str, str | None]:
        from neonize.exc import NeonizeError

        s = await self._ready(session_id)
        digits = {phone: phone_digits(phone) for phone in phones}
        queries = sorted({d for d in digits.values() if d})
        found: dict[str, str | None] = {}
        if queries:
            try:
                responses = await s.client.is_on_whatsapp(*(f"+{d}" for d in queries))
            except NeonizeError as exc:
                raise transport_error(exc) from exc
            for r in responses:
                key = phone_digits(r.Query)
                if key:
                    found[key] = mapping.jid_to_str(r.JID) if r.IsIn else None
        return {phone: found.get(d) if d else None for phone, d in digits.items()}

    async def contacts(self, session_id: str) -> list[Contact]:
        from neonize.exc import NeonizeError

        s = self._sessions.get(session_id)
        if s is None or not await s.client.is_logged_in:  # pitfall 5: contact.* panics unless logged in
            raise SessionNotConnected()
        try:
            entries = await s.client.contact.get_all_contacts()
        except NeonizeError as exc:
            raise transport_error(exc) from exc
        return [mapping.contact_from_store(entry) for entry in entries]

    async def pair_phone(self, session_id: str, phone: str) -> str:
        from neonize.exc import NeonizeError
        from neonize.utils.enum import ClientName

        digits = phone_digits(phone)
        if digits is None:
            raise InvalidRecipient(f"Not a phone number: {phone!r}")
        s = self._session(session_id)
        if await s.client.is_logged_in:
            raise TransportError("The session is already linked")
        if not s.wanted:
            await self.connect(session_id)
        try:  # PairPhone needs an open websocket; the first QR code is the sign that it is open
            await asyncio.wait_for(s.qr_seen.wait(), self.pair_wait_s)
        except TimeoutError:
            raise SessionNotConnected("No connection to WhatsApp to pair over") from None
        try:
            return await s.client.PairPhone(digits, True, client_name=ClientName.LINUX)
        except NeonizeError as exc:
            raise transport_error(exc) from exc
