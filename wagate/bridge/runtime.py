"""A bridge of one shard: session lifecycle, transport events → rows and events, one sender per session.

Any number of bridges may run for a shard, on any hosts. Each claims the shard's sessions that should run
(WORKING, STARTING, SCAN_QR_CODE) and that no live bridge drives, up to its fair share (`claims`); a Redis lease
per session keeps two bridges from connecting the same number. Commands from the web arrive as jobs
(`session_command`) on the shard's queue, which every bridge of the shard reads; the lease holder runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge import group_events, inbound, incoming_media, phone_calls, session_proxy, statuses
from wagate.bridge.chat_state import apply_chat_state
from wagate.bridge.claims import Claims
from wagate.bridge.event_queue import SessionEvents
from wagate.bridge.history import handle_history
from wagate.bridge.leases import LeaseHeld, SessionLeases, process_owner
from wagate.bridge.memory import MemoryCeiling
from wagate.bridge.message_changes import apply_change
from wagate.bridge.nudges import listen_for_nudges, say_released
from wagate.bridge.presence import publish_presence
from wagate.bridge.receipts import apply_receipts
from wagate.bridge.sender import Pacing, SessionSender
from wagate.bridge.silence import SilenceWatch
from wagate.bridge.status import set_status
from wagate.bridge.watchdog import Watchdog
from wagate.config import Settings
from wagate.db.enums import Direction, MessageStatus, QrOutcome, SessionStatus
from wagate.db.models_whatsapp import Message, QrCode, WaSession
from wagate.db.outage import UNREACHABLE, when_reachable
from wagate.db.types import utcnow
from wagate.errors import NotFound, TransportError
from wagate.observability import metrics
from wagate.queue.names import qr_key
from wagate.services import events
from wagate.services.media.store import media_stores
from wagate.transport import key_store
from wagate.transport.base import (
    CallEnded,
    CallOffered,
    CallsAbandoned,
    ChatStateChanged,
    Connected,
    ConnectFailed,
    ContactUpdated,
    Disconnected,
    HistorySynced,
    LoggedOut,
    MessageChanged,
    MessageReceived,
    Paired,
    PresenceUpdated,
    QRCodeIssued,
    QRCodesExhausted,
    ReceiptReceived,
    StoresLeftOpen,
    TransportEvent,
    WhatsAppTransport,
)
from wagate.transport.factory import create_transport
from wagate.transport.groups import GroupJoined, GroupLeft, GroupParticipantsChanged, GroupUpdated

log = structlog.get_logger(__name__)

PAIR_CODE_TTL_S = 180
# How long an event whose writes find no database connection (a pool run dry under load, a restart) is retried;
# WhatsApp does not send a receipt or a message again, so giving up early would lose it.
EVENT_PATIENCE_S = 600.0


def pair_code_key(session_id: str) -> str:
    return f"wagate:paircode:{session_id}"


def end_this_process() -> None:
    """Ask this process to stop as on SIGTERM (drain, close, release leases); its supervisor starts a fresh one."""
    os.kill(os.getpid(), signal.SIGTERM)


class Bridge:
    """Owns the transport of one shard and everything that follows from its events."""

    def __init__(self, settings: Settings, shard: int, *, db: async_sessionmaker[AsyncSession], redis: Redis,
                 transport: WhatsAppTransport | None = None, recycle: Callable[[], None] = end_this_process) -> None:
        self.settings = settings
        self.recycle = recycle  # restarts the process: only a new one frees calls stuck in the WhatsApp library
        self.recycling = False
        self.shard = shard
        self.db = db
        self.redis = redis
        self.owner = process_owner()
        self.leases = SessionLeases(redis, self.owner, shard=shard)
        self.claims = Claims(self, db=db, redis=redis, shards=settings.bridge_shards)
        self.transport = transport or create_transport(settings, self.on_event)
        self.transport.sink = self.on_event
        self.pacing = Pacing(
            normal_gap_s=settings.send_gap_ms / 1000, bulk_gap_s=settings.bulk_gap_ms / 1000,
            jitter_s=settings.send_jitter_ms / 1000, typing_s_per_char=settings.typing_ms_per_char / 1000,
            typing_max_s=settings.typing_max_ms / 1000,
        )
        self.senders: dict[str, SessionSender] = {}
        self.downloads = incoming_media.Downloads(db, settings, self.transport)  # received media, on arrival
        self._locks: dict[str, asyncio.Lock] = {}  # per session: a send and the receipts of its message id
        self._events: dict[str, SessionEvents] = {}  # per session: its events, one at a time
        self._handling: set[asyncio.Future[None]] = set()  # events being handled; close() waits for them
        self._tenants: dict[str, int | None] = {}
        self._nudges: asyncio.Task[None] | None = None
        self.silence = SilenceWatch(self.transport, silent_after_s=settings.silent_after_s,
                                    mine=lambda sid: sid in self.leases.held, reconnect=self.reconnect_session,
                                    shard=shard)
        self.memory = MemoryCeiling(settings.bridge_max_rss_mb, self.restart_process, shard=shard)
        self.watchdog = Watchdog(db, redis, shard, settings.bridge_shards, self.senders,
                                 lambda sid: sid in self.leases.held, self.restart_sender,
                                 also=(self.silence.check, self.memory.check))
        self._watchdog: asyncio.Task[None] | None = None

    # --- process lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.leases.renew_all()  # listed as a live bridge before it claims anything
        self.leases.start_renewing(self._lease_lost)
        self._nudges = asyncio.create_task(listen_for_nudges(self.redis, self.shard, self.wake, self.claims.ask),
                                           name=f"nudges:{self.shard}")
        self._watchdog = asyncio.create_task(self.watchdog.run(), name=f"watchdog:{self.shard}")
        await self.claims.run_pass()  # what the previous process drove, before the first job
        log.info("bridge started", shard=self.shard, owner=self.owner, driving=len(self.leases.held))
        self.claims.start()

    async def close(self) -> None:
        """Drain: stop claiming, close every connection, then release the leases and tell the shard's other
        bridges, which take the sessions over at once."""
        await self.claims.close()
        for task in (self._nudges, self._watchdog):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for sender in list(self.senders.values()):
            await sender.stop()
        self.senders.clear()
        await self.downloads.close()  # a medium left half-way is fetched on its first request
        with contextlib.suppress(Exception):
            await self.transport.close()
        if self._handling:  # finish what the transport already reported before Redis and the database close
            await asyncio.wait(list(self._handling), timeout=10)
        released = len(self.leases.held)
        await self.leases.close()
        if released:
            await say_released(self.redis, self.shard)
        log.info("bridge stopped", shard=self.shard, handed_over=released)

    def restart_process(self, why: str) -> None:
        """Drain and exit (once), for the supervisor to start a fresh process: only that frees what the WhatsApp
        library holds for good (stuck calls, stores it never closes)."""
        if self.recycling:
            return
        self.recycling = True
        log.error("bridge restarting", shard=self.shard, why=why)
        self.recycle()

    async def hand_over(self, session_id: str) -> None:
        """Let another bridge of the shard drive the session: disconnect it here, release its lease, say so."""
        await self._drop_sender(session_id)
        with contextlib.suppress(Exception):
            await self.transport.stop(session_id)
        await self.leases.release(session_id)
        await say_released(self.redis, self.shard)

    async def _lease_lost(self, session_id: str) -> None:
        """Another bridge took the session over: let go of it here without touching its status."""
        await self._drop_sender(session_id)
        with contextlib.suppress(Exception):
            await self.transport.stop(session_id)

    # --- commands ---------------------------------------------------------------------------------------

    async def command(self, session_id: str, command: str, params: dict[str, Any]) -> Any:
        handlers: dict[str, Callable[[str], Awaitable[Any]]] = {
            "start": self.start_session, "stop": self.stop_session, "restart": self.restart_session,
            "logout": self.logout_session, "delete": self.delete_session, "sync_contacts": self.sync_contacts,
        }
        if command == "pair_phone":
            return await self.pair_phone(session_id, str(params["phone"]))
        if command == "download_media":  # a received medium asked for before it was downloaded
            return await incoming_media.download(self.db, self.settings, self.transport, int(params["messageId"]))
        if command not in handlers:
            raise ValueError(f"unknown session command {command!r}")
        await handlers[command](session_id)
        return command

    async def _session(self, session_id: str) -> WaSession:
        async with self.db() as session:
            row = await session.get(WaSession, session_id)
        if row is None:
            raise NotFound("Session not found")
        self._tenants[session_id] = row.tenant_id
        return row

    async def _take(self, session_id: str) -> None:
        if not await self.leases.acquire(session_id):
            raise LeaseHeld(f"session {session_id} is driven by {await self.leases.holder(session_id)}")

    async def start_session(self, session_id: str, *, resume: bool = False) -> None:
        row = await self._session(session_id)
        await self._take(session_id)
        if await self.transport.is_connected(session_id):
            # Already up: no Connected event would follow, so STARTING would stick over a working session.
            self._sender(session_id).start()
            return
        if not (resume and row.status == SessionStatus.WORKING):
            # A WORKING session taken over stays WORKING while it reconnects: sends are accepted and wait for it.
            await set_status(self.db, self.redis, session_id, SessionStatus.STARTING,
                             fields={"started_at": utcnow()})
        self._sender(session_id).start()
        if (refused := await session_proxy.apply(self.settings, self.transport, row)) is not None:
            await self._drop_sender(session_id)
            await set_status(self.db, self.redis, session_id, SessionStatus.FAILED, reason=refused)
            await self.leases.release(session_id)
            return
        await self.transport.connect(session_id)

    async def stop_session(self, session_id: str, *, reason: str | None = None) -> None:
        await self._session(session_id)
        await self._take(session_id)
        await self._drop_sender(session_id)
        await self.transport.stop(session_id)
        await self._forget_qr(session_id)
        await set_status(self.db, self.redis, session_id, SessionStatus.STOPPED, reason=reason,
                         extra_events=[("connection.close", {"reason": reason or "stopped"})])
        await self.leases.release(session_id)

    async def restart_session(self, session_id: str) -> None:
        await self.stop_session(session_id, reason="restarting")
        await self.start_session(session_id)

    async def reconnect_session(self, session_id: str, reason: str) -> None:
        """Drop the session's connection and connect it again, keeping its lease, sender and queued messages."""
        await set_status(self.db, self.redis, session_id, SessionStatus.STARTING, reason=reason,
                         extra_events=[("connection.close", {"reason": reason, "reconnecting": True})])
        await self.transport.stop(session_id)
        await self.transport.connect(session_id)

    async def logout_session(self, session_id: str) -> None:
        await self._session(session_id)
        await self._take(session_id)
        try:
            await self.transport.logout(session_id)  # emits LoggedOut, handled below
        except TransportError as exc:
            # Not connected: the device cannot be unlinked from here; forget its keys all the same.
            log.info("logout while not connected", session_id=session_id, reason=exc.message)
            await self.transport.stop(session_id)
            self._remove_store(session_id)
            await self._logged_out(session_id, "logged out while disconnected")

    async def delete_session(self, session_id: str) -> None:
        """The row is already gone (the web deleted it): unlink the device, drop its keys and lease."""
        if not await self.leases.acquire(session_id):
            raise LeaseHeld(f"session {session_id} is driven by another bridge")
        await self._drop_sender(session_id)
        with contextlib.suppress(TransportError):
            await self.transport.logout(session_id)
        with contextlib.suppress(Exception):
            await self.transport.stop(session_id)
        self._remove_store(session_id)
        await self._forget_qr(session_id)
        await self.leases.release(session_id)
        log.info("session deleted", session_id=session_id)

    async def pair_phone(self, session_id: str, phone: str) -> str:
        row = await self._session(session_id)
        if row.status not in (SessionStatus.STARTING, SessionStatus.SCAN_QR_CODE):
            await self.start_session(session_id)
        code = await self.transport.pair_phone(session_id, phone)
        await self.redis.set(pair_code_key(session_id), code, ex=PAIR_CODE_TTL_S)
        await events.publish(self.redis, row.tenant_id, events.envelope(
            "qr.generated", session_id, {"pairingCode": code, "phone": phone, "expiresIn": PAIR_CODE_TTL_S}))
        return code

    async def sync_contacts(self, session_id: str) -> None:
        for contact in await self.transport.contacts(session_id):
            await inbound.update_contact(self.db, ContactUpdated(session_id=session_id, contact=contact))

    def wake(self, session_id: str) -> bool:
        sender = self.senders.get(session_id)
        if sender is None:
            return False
        sender.wake()
        return True

    async def restart_sender(self, session_id: str) -> None:
        """A fresh send loop for the session (the watchdog's recovery); the rows, not the loop, hold the work."""
        await self._drop_sender(session_id)
        self._sender(session_id).start()

    # --- helpers ----------------------------------------------------------------------------------------

    def _sender(self, session_id: str) -> SessionSender:
        if session_id not in self.senders:
            self.senders[session_id] = SessionSender(
                session_id, db=self.db, redis=self.redis, transport=self.transport, pacing=self.pacing,
                lock=self._lock(session_id), tenant_id=lambda: self._tenant(session_id),
                media=media_stores(self.settings),
                limit_pause_s=self.settings.send_limit_pause_s,
            )
        return self.senders[session_id]

    def _lock(self, session_id: str) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    def _session_events(self, session_id: str) -> SessionEvents:
        return self._events.setdefault(session_id, SessionEvents())

    async def _drop_sender(self, session_id: str) -> None:
        sender = self.senders.pop(session_id, None)
        if sender is not None:
            await sender.stop()

    async def _tenant(self, session_id: str) -> int | None:
        if session_id not in self._tenants:
            async with self.db() as session:
                self._tenants[session_id] = await session.scalar(
                    select(WaSession.tenant_id).where(WaSession.id == session_id))
        return self._tenants[session_id]

    def _remove_store(self, session_id: str) -> None:
        key_store.remove(Path(self.settings.auth_sessions_dir), session_id)

    async def _forget_qr(self, session_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.redis.delete(qr_key(session_id), pair_code_key(session_id))

    async def _close_open_qr(self, session_id: str, outcome: QrOutcome) -> None:
        now = utcnow()
        stamp = {"scanned_at": now} if outcome == QrOutcome.SCANNED else {"expired_at": now}
        async with self.db() as session, session.begin():
            await session.execute(
                update(QrCode).where(QrCode.session_id == session_id, QrCode.outcome == QrOutcome.ISSUED)
                .values(outcome=outcome, **stamp)
            )

    async def _logged_out(self, session_id: str, reason: str) -> None:
        await self._drop_sender(session_id)
        await self._forget_qr(session_id)
        # Queued messages of an unlinked number can never go out: fail them now, with the reason.
        async with self.db() as session, session.begin():
            stuck = list(await session.scalars(select(Message.id).where(
                Message.session_id == session_id, Message.direction == Direction.OUTBOUND,
                Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)))))
            if stuck:
                await session.execute(update(Message).where(Message.id.in_(stuck)).values(
                    status=MessageStatus.FAILED, error=f"session logged out: {reason}", failed_at=utcnow()))
        tenant = await self._tenant(session_id)
        await set_status(self.db, self.redis, session_id, SessionStatus.LOGGED_OUT, reason=reason,
                         extra_events=[("connection.close", {"reason": reason, "loggedOut": True})])
        if stuck:
            failed = [events.message_envelope("message.failed", session_id, mid,
                                              {"status": "failed", "error": "session logged out"}) for mid in stuck]
            await events.publish_durably(self.redis, tenant, *failed, log=log,
                                         what="message.failed of a logged-out session", session_id=session_id)
        await self.leases.release(session_id)

    # --- transport events -------------------------------------------------------------------------------

    async def on_event(self, event: TransportEvent) -> None:
        """The transport's sink; one failing event is logged and never stops the next.

        A session's events are handled one at a time, in arrival order: a QR code that rotates while the
        phone scans must not write SCAN_QR_CODE over WORKING. Handling is shielded: the transport may cancel
        the task that delivered the event (the simulator cancels its QR timer when the phone scans), and the
        event is still handled to the end, row and published event alike. Receipts waiting one behind the
        other are handled as one group (see `event_queue`); the sink returns once its event was handled.
        """
        self.silence.heard(event)
        task = asyncio.ensure_future(self._handle_in_order(event))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)
        await asyncio.shield(task)

    async def _handle_in_order(self, event: TransportEvent) -> None:
        queue = self._session_events(event.session_id)
        queue.arrive(event)
        async with queue:
            taken = queue.take(event)
            try:
                if taken:
                    await when_reachable(lambda: self._dispatch(event, taken), patience_s=EVENT_PATIENCE_S, log=log,
                                         what="event not handled", retry_on=UNREACHABLE, session_id=event.session_id,
                                         event_type=type(event).__name__)
            except Exception:
                log.exception("event handling failed", session_id=event.session_id, event_type=type(event).__name__,
                              events=len(taken))

    async def _dispatch(self, event: TransportEvent, taken: list[TransportEvent]) -> None:
        """Handle `taken` (`event` and the receipts behind it); safe to run again after a database error."""
        if isinstance(event, ReceiptReceived):
            await self._receipts(event.session_id, taken)
        else:
            await self._handle(event)

    async def _receipts(self, session_id: str, receipts: list[TransportEvent]) -> None:
        if not receipts:
            return
        async with self._lock(session_id):  # after the sends that produced the ids have been committed
            await apply_receipts(self.db, self.redis, session_id, cast(list[ReceiptReceived], receipts),
                                 await self._tenant(session_id))

    async def _handle(self, event: TransportEvent) -> None:
        sid = event.session_id
        if isinstance(event, Disconnected | ConnectFailed):
            metrics.count_reconnect("disconnected" if isinstance(event, Disconnected) else "connect_failed", self.shard)
        match event:
            case QRCodeIssued(code=code, expires_in=ttl):
                await self._qr_issued(sid, code, ttl)
            case QRCodesExhausted():
                await self._close_open_qr(sid, QrOutcome.EXPIRED)
                await self._forget_qr(sid)
                await self._drop_sender(sid)
                await set_status(self.db, self.redis, sid, SessionStatus.STOPPED,
                                 reason="QR code not scanned in time")
                await self.leases.release(sid)
            case Paired(account=account):
                await self._close_open_qr(sid, QrOutcome.SCANNED)
                await self._forget_qr(sid)
                async with self.db() as session, session.begin():
                    await session.execute(update(WaSession).where(WaSession.id == sid).values(
                        jid=account.jid, phone=account.phone, lid=account.lid))
            case Connected(account=account):
                await self._forget_qr(sid)
                fields = {"jid": account.jid, "phone": account.phone, "lid": account.lid,
                          "push_name": account.push_name, "platform": account.platform,
                          "connected_at": utcnow(), "last_seen_at": utcnow()}
                await set_status(self.db, self.redis, sid, SessionStatus.WORKING, fields=fields, extra_events=[(
                    "connection.open", {"jid": account.jid, "phone": account.phone, "lid": account.lid,
                                        "pushName": account.push_name, "platform": account.platform})])
                self._sender(sid).start()
            case Disconnected(reason=reason, will_reconnect=again):
                await set_status(self.db, self.redis, sid,
                                 SessionStatus.STARTING if again else SessionStatus.STOPPED,
                                 reason=f"disconnected: {reason}", extra_events=[
                                     ("connection.close", {"reason": reason, "reconnecting": again})])
                if not again:
                    await self._drop_sender(sid)
                    await self.leases.release(sid)
            case ConnectFailed(reason=reason, permanent=True):
                await self._drop_sender(sid)
                await set_status(self.db, self.redis, sid, SessionStatus.FAILED, reason=reason)
                await self.leases.release(sid)
            case ConnectFailed(reason=reason, retry_in=retry_in):
                note = f"{reason}; retrying in {retry_in:.0f} s" if retry_in is not None else reason
                await set_status(self.db, self.redis, sid, SessionStatus.STARTING, reason=note)
            case LoggedOut(reason=reason):
                await self._logged_out(sid, reason)
            case MessageReceived():
                if await inbound.handle_received(self.db, self.redis, self.transport, event, self.settings):
                    self.wake(sid)  # an auto-reply was queued
                await statuses.received(self.db, self.redis, event)
                await self.downloads.on_received(event)
            case CallOffered() | CallEnded():
                if await phone_calls.handle(self.db, self.redis, self.transport, event):
                    self.wake(sid)  # the call policy's reply was queued
            case ContactUpdated():
                await inbound.update_contact(self.db, event)
            case MessageChanged():
                await apply_change(self.db, self.redis, event)
            case PresenceUpdated():
                await publish_presence(self.db, self.redis, event)
            case HistorySynced():
                await handle_history(self.db, self.redis, event)
            case ChatStateChanged():
                await apply_chat_state(self.db, self.redis, event)
            case GroupJoined() | GroupLeft() | GroupParticipantsChanged() | GroupUpdated():
                await group_events.publish(self.db, self.redis, event)
            case CallsAbandoned(count=count, limit=limit) if count >= limit:
                # Each abandoned call holds a thread and memory for good; a fresh process frees them, and every
                # live session reconnects there (RESUMABLE), its queued messages waiting in the database.
                self.restart_process(f"{count} WhatsApp calls stuck (limit {limit})")
            case StoresLeftOpen(count=count, limit=limit):
                self.restart_process(f"{count} stores left open by ended WhatsApp connects (limit {limit})")

    async def _qr_issued(self, session_id: str, code: str, ttl: float) -> None:
        await self._close_open_qr(session_id, QrOutcome.EXPIRED)  # the previous code stopped working
        expires_at = utcnow() + timedelta(seconds=ttl)
        async with self.db() as session, session.begin():
            session.add(QrCode(session_id=session_id, expires_at=expires_at,
                               code_hash=hashlib.sha256(code.encode()).hexdigest()))
        await self.redis.set(qr_key(session_id), json.dumps({"code": code, "expires_at": expires_at.isoformat()}),
                             px=max(1, int(ttl * 1000)))
        await set_status(self.db, self.redis, session_id, SessionStatus.SCAN_QR_CODE, extra_events=[
            ("qr.generated", {"qr": code, "expiresAt": int(expires_at.timestamp()), "expiresIn": ttl})])
