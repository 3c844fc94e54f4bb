"""A session's neonize client and its life: created, connected and supervised, QR codes, pairing, stopped.

This part of `NeonizeTransport` owns the clients: it registers on each one the event handlers every area of the
transport declares (`_event_handlers`), and replaces a client whose Go connect call never ends (pitfall 7).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wagate.errors import InvalidRecipient, SessionNotConnected, TransportError
from wagate.observability import metrics
from wagate.transport import key_store
from wagate.transport.base import (
    Account,
    CallsAbandoned,
    ConnectFailed,
    LoggedOut,
    QRCodeIssued,
    QRCodesExhausted,
    StoresLeftOpen,
)
from wagate.transport.neonize.errors import transport_error
from wagate.transport.neonize.loop import prepare_event_loop
from wagate.transport.neonize.proxy import proxy_settings
from wagate.transport.neonize.recipients import phone_digits
from wagate.transport.neonize.session import EventHandler, NeonizeBase, SessionState, log

if TYPE_CHECKING:
    from neonize.aioze.client import NewAClient

FIRST_QR_TTL_S = 60.0  # whatsmeow's first QR code lives about 60 s, each of the next five about 20 s
NEXT_QR_TTL_S = 20.0


class NeonizeClient(NeonizeBase):
    """Sessions and their clients: connecting, supervision, stopping, logging out, QR codes and pairing."""

    # --- sessions and their clients ---------------------------------------------------------------------

    def client(self, session_id: str) -> NewAClient:
        """The one neonize client of a session, created (with its handlers) on first use."""
        return self._session(session_id).client

    def _session(self, session_id: str) -> SessionState:
        session = self._sessions.get(session_id)
        if session is not None:
            return session  # pitfall 6: never a second client object for one session id
        if self._closed:
            raise TransportError("The WhatsApp transport is closed")
        prepare_event_loop(len(self._sessions) + len(self._abandoned) + 1)
        self.auth_dir.mkdir(parents=True, exist_ok=True)
        client, session_log = self._new_client(session_id, 0), log.bind(session_id=session_id)
        session = SessionState(id=session_id, client=client, log=session_log)
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

    async def _abandon(self, s: SessionState, task: asyncio.Task[Any]) -> None:
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

    def _register_handlers(self, s: SessionState) -> None:
        for event_type, handler in self._event_handlers().items():
            s.client.event(event_type)(self._guarded(s, s.client, event_type.__name__, handler))
        s.client.event.qr(self._guarded(s, s.client, "QR", self._on_qr))  # the live QR; QREv arrives late

    @staticmethod
    def _guarded(
        s: SessionState, client: NewAClient, name: str, handler: EventHandler
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

    async def _supervise(self, s: SessionState) -> None:
        """Connect, and after every failure wait a growing delay and connect again, until stopped (pitfall 9)."""
        try:
            while s.wanted:
                reason = await self._attempt(s)
                if not s.wanted:
                    break
                step = self.reconnect_backoff[min(s.failures, len(self.reconnect_backoff) - 1)]
                delay = round(step * random.uniform(1 - self.backoff_jitter, 1 + self.backoff_jitter), 3)
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

    async def _attempt(self, s: SessionState) -> str:
        """One connection's life: returns why it ended."""
        s.attempt += 1
        s.qr_count, s.paired, s.restart_reason, s.keepalive_lost = 0, False, None, False
        s.qr_seen.clear()
        proxy_url = self._proxy_for(s.id)
        if self.network_probe is not None and proxy_url is None:  # through a proxy, the proxy resolves and dials
            # Each Go connect opens a store it never closes (+1 fd, ~180 KB): while WhatsApp cannot be reached,
            # attempts are checked from Python and the Go core is not called.
            unreachable = await self._unreachable()
            if unreachable:
                return unreachable
        async with self._go_lock:  # pitfall 4: one connect at a time, a stagger apart
            if not s.wanted:
                return "stopped"
            from neonize.exc import NeonizeError

            try:
                task = await s.client.connect(proxy_settings(proxy_url))
            except NeonizeError as exc:
                return str(exc) or type(exc).__name__
            s.connect_task = task
            await asyncio.sleep(self.connect_stagger_s)
        # pitfall 7: wait for the task, never cancel it (asyncio.wait leaves it running if we are cancelled)
        await asyncio.wait({task})
        await self._store_left_open(s)
        if s.restart_reason:
            return s.restart_reason
        if task.cancelled():
            return "connection task cancelled"
        error = task.exception()
        return (str(error) or type(error).__name__) if error else "connection closed"

    async def _store_left_open(self, s: SessionState) -> None:
        """A Go connect call ended, and the store it opened stays open (neonize's main.go never closes it)."""
        self.stores_left_open += 1
        if self.stores_left_open == self.max_open_stores:  # once: the bridge drains and restarts on it
            s.log.error("whatsapp stores left open by ended connects reached the limit",
                        stores=self.stores_left_open, limit=self.max_open_stores)
            metrics.count_transport_incident("stores_left_open")
            await self._emit(StoresLeftOpen(session_id=s.id, count=self.stores_left_open,
                                            limit=self.max_open_stores))

    async def _halt(self, s: SessionState) -> None:
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

    # --- QR codes -------------------------------------------------------------------------------------

    async def _on_qr(self, s: SessionState, code: bytes) -> None:
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

    async def _qr_deadline(self, s: SessionState, attempt: int) -> None:
        await asyncio.sleep(self.qr_timeout_s)
        if s.attempt != attempt or not s.wanted or s.paired:
            return
        s.log.info("whatsapp qr codes exhausted", qr_codes=s.qr_count)
        await self._halt(s)
        await self._emit(QRCodesExhausted(session_id=s.id))

    # --- pairing by code -------------------------------------------------------------------------------

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
