"""One sender per connected session: takes its queued messages in priority order and sends them, paced.

The database is the queue. Each turn the sender picks the most urgent due message (urgent, normal, bulk;
then oldest first), so a normal message queued behind 200 broadcast messages goes next, and a scheduled
message waits for its `send_at`. Sessions have their own senders, so they send in parallel; one session
never bursts: consecutive sends are at least the priority's gap apart, plus random jitter. The time of the
last send is kept in Redis, so a restarted bridge keeps the gap too.

A message is marked `sending` (committed) before WhatsApp is asked and `sent` right after; a bridge that dies
in between finds it `sending` on restart and sends it again, under the same WhatsApp message id: the gateway
makes the id (as WhatsApp's own clients do) and stores it with the first `sending` mark, and a recipient who
already has a message with that id discards the copy. A transport that cannot pass the id on (neonize 0.5.2:
README "Fault tolerance") is not asked again: the message becomes `unknown` with a `message.unknown` event, and
so does a send that failed after it may have left (no answer in time) -- the caller decides whether to resend.
Only errors raised before the message leaves are retried. The send job of the queue only wakes the sender, so a
job that runs twice never sends twice.

With pacing off (every gap and the jitter under `BATCH_GAP_S`) a turn takes up to `BATCH_MAX` due messages
at once, still in priority order: one transaction marks them all `sending`, they are sent one after another,
and one transaction marks the sent ones `sent`; their events go out in one pipeline. The statuses are
written as soon as the batch's sends have taken `BATCH_FLUSH_S`, so where the id cannot be passed on, a crash
leaves at most the sends of that short window `unknown` (with real WhatsApp, whose sends take longer, one send).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import structlog
from redis.asyncio import Redis
from sqlalchemy import Table, bindparam, case, func, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge import outgoing_rows, sent_changes
from wagate.bridge.outgoing_media import STORE_RETRY_S, MediumUnreachable, media_bytes
from wagate.bridge.send_limits import SendLimit
from wagate.db.enums import Direction, MessageStatus, MessageType, Priority
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.outage import when_reachable
from wagate.db.types import utcnow
from wagate.errors import SendLimited, SendOutcomeUnknown, SessionNotConnected, TransportError
from wagate.observability import metrics
from wagate.services import events
from wagate.services.chats import activity as chats
from wagate.services.media.store import MediaStores
from wagate.transport.base import STATUS_JID, SendResult, WhatsAppTransport, new_message_id

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 3
RETRY_BACKOFF_S = (2.0, 8.0)  # before the 2nd and 3rd attempt of a transiently failed send
RETRY_SLACK_S = 0.05  # a retry's row is due by the wall clock, its wake-up by the monotonic one: look a bit later
SEND_TIMEOUT_S = 120.0  # a media upload on a slow line; beyond this the send counts as a transient failure
SENT_WRITE_PATIENCE_S = 600.0  # how long a `sent` status that the database refuses is retried before giving up
BATCH_MAX = 50  # messages per turn when pacing is off
BATCH_GAP_S = 0.005  # gaps (and jitter) at most this count as "pacing off"
BATCH_FLUSH_S = 0.05  # write the `sent` statuses once the batch's sends took this long
_RANK = case({Priority.URGENT.value: 0, Priority.NORMAL.value: 1}, value=Message.priority, else_=2)


def pace_key(session_id: str) -> str:
    return f"wagate:pace:{session_id}"


@dataclass(frozen=True, slots=True)
class Pacing:
    normal_gap_s: float
    bulk_gap_s: float
    jitter_s: float
    typing_s_per_char: float
    typing_max_s: float

    def gap(self, priority: Priority) -> float:
        return self.bulk_gap_s if priority == Priority.BULK else self.normal_gap_s

    @property
    def batch(self) -> int:
        """How many due messages one turn may take: several only when no gap separates them."""
        off = max(self.normal_gap_s, self.bulk_gap_s) + self.jitter_s <= BATCH_GAP_S
        return BATCH_MAX if off and not self.typing_s_per_char else 1


async def next_due(db: async_sessionmaker[AsyncSession], session_id: str) -> Message | None:
    """The session's most urgent outgoing message that may be sent now (left `sending` by a crash included)."""
    due = await next_due_batch(db, session_id, 1)
    return due[0] if due else None


async def next_due_batch(db: async_sessionmaker[AsyncSession], session_id: str, limit: int) -> list[Message]:
    """The session's `limit` most urgent outgoing messages that may be sent now, most urgent first."""
    async with db() as session:
        return list(await session.scalars(
            select(Message)
            .where(
                Message.session_id == session_id,
                Message.direction == Direction.OUTBOUND,
                Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING)),
                or_(Message.send_at.is_(None), Message.send_at <= utcnow()),
            )
            .order_by(_RANK, Message.id)
            .limit(limit)
        ))


class SessionSender:
    """The send loop of one session; `wake()` when something may have become due."""

    def __init__(
        self,
        session_id: str,
        *,
        db: async_sessionmaker[AsyncSession],
        redis: Redis,
        transport: WhatsAppTransport,
        pacing: Pacing,
        lock: asyncio.Lock,
        tenant_id: Callable[[], Awaitable[int | None]],
        media: MediaStores,
        limit_pause_s: float = 900.0,
    ) -> None:
        self.session_id = session_id
        self.db = db
        self.redis = redis
        self.transport = transport
        self.pacing = pacing
        self.lock = lock  # shared with the receipt handler: a receipt never overtakes the commit of its send
        self.tenant_id = tenant_id
        self.media = media
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_sent: float | None = None
        self._jitter = 0.0
        self._retry_at: float | None = None  # monotonic time a message this sender put back becomes due
        self.busy_at = time.monotonic()  # when the loop last looked for work: the watchdog's sign of life
        self.limit = SendLimit(session_id, db=db, redis=redis, tenant_id=tenant_id, pause_s=limit_pause_s)
        self.log = log.bind(session_id=session_id)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"sender:{self.session_id}")
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def retry_at(self, delay_s: float) -> None:
        """Look again in `delay_s`: a message put back for a retry wakes no one else."""
        at = time.monotonic() + delay_s + RETRY_SLACK_S
        self._retry_at = at if self._retry_at is None else min(self._retry_at, at)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        """Turns while something is due; then sleep until woken (a send job, a nudge, Connected, the bridge's
        watchdog) or until a retry this sender scheduled is due: an idle session costs no query."""
        await self._load_last_sent()
        await self.limit.load()
        while True:
            self._wake.clear()  # before looking: a wake-up that arrives while we look is not lost
            self.busy_at = time.monotonic()
            if self._retry_at is not None and self._retry_at <= self.busy_at:
                self._retry_at = None  # this turn looks at it; a retry put back during the turn sets a new one
            try:
                idle_for = await self._send_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("sender turn failed")
                idle_for = 1.0
            if self._retry_at is not None:
                left = self._retry_at - time.monotonic()
                if left <= 0:
                    continue
                idle_for = left if idle_for is None else min(idle_for, left)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancel that arrives just as the
            # wake-up does, and stop() would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle_for):
                    await self._wake.wait()

    async def _load_last_sent(self) -> None:
        with contextlib.suppress(Exception):
            value = await self.redis.get(pace_key(self.session_id))
            if value is not None:
                # Redis keeps wall-clock milliseconds; convert to this process's monotonic clock.
                self._last_sent = time.monotonic() - (time.time() - int(value) / 1000)

    async def _send_due(self) -> float | None:
        """Send whatever is due, in order and paced; return how long to idle before looking again (None: until
        woken; a scheduled message's deferred send job wakes the sender when it is due)."""
        while True:
            self.busy_at = time.monotonic()
            if not await self.transport.is_connected(self.session_id):
                return None  # Connected wakes the sender
            due = await next_due_batch(self.db, self.session_id, self.pacing.batch)
            if not due:
                if self.limit.limited and not self.limit.paused_for():
                    await self.limit.lift("the pause ended")  # no new contact waited to try it
                return None
            wait = self._wait_before(due[0].priority)
            if wait > 0:
                # Sleep, but wake early when something new arrives: it may be more urgent than `message`.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                continue
            if len(due) == 1:
                await self._send(due[0])
            else:
                await self._send_batch(due)

    def _wait_before(self, priority: Priority) -> float:
        if self._last_sent is None:
            return 0.0
        return self._last_sent + self.pacing.gap(priority) + self._jitter - time.monotonic()

    async def _mark_sent_time(self) -> None:
        self._last_sent = time.monotonic()
        self._jitter = random.uniform(0, self.pacing.jitter_s) if self.pacing.jitter_s else 0.0
        with contextlib.suppress(Exception):
            ttl_ms = int((self.pacing.bulk_gap_s + self.pacing.jitter_s + 60) * 1000)
            await self.redis.set(pace_key(self.session_id), int(time.time() * 1000), px=ttl_ms)

    async def _left_unknown(self, batch: list[Message]) -> list[Message]:
        """The messages of `batch` that may be sent; those a stopped bridge left `sending` are reported unknown
        instead where the transport cannot send again under the same id (WhatsApp may have them already)."""
        if self.transport.keeps_message_ids:
            return batch
        left = [m for m in batch if m.status == MessageStatus.SENDING]
        for message in left:
            await self._unknown(message, "the bridge stopped while this message was being sent; WhatsApp may have it")
        return [m for m in batch if m not in left]

    def _outcome(self, exc: BaseException) -> BaseException:
        """A send that outlived SEND_TIMEOUT_S goes on in the WhatsApp library: its outcome is unknown, unless the
        transport sends again under the same id."""
        if isinstance(exc, TimeoutError) and not self.transport.keeps_message_ids:
            return SendOutcomeUnknown(f"no answer from WhatsApp within {SEND_TIMEOUT_S:.0f} s; it may have the message")
        return exc

    async def _send(self, message: Message) -> None:
        if not await self._not_held(await self._left_unknown([message])):
            return
        wa_ids = await self._mark_sending([message])
        attempt = message.attempts + 1
        await self._show_typing(message)
        async with self.lock:
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    result = await self._call_transport(message, wa_ids[message.id])
            except SessionNotConnected:
                await self._requeue(message, attempt - 1, None)  # not the message's fault: wait for the session
                return
            except MediumUnreachable as exc:  # nor is a media store outage: wait for the store
                await self._requeue(message, attempt - 1, STORE_RETRY_S, exc.message)
            except SendLimited as exc:
                await self._limited(message, exc)
                return
            except (TransportError, TimeoutError, OSError) as exc:
                await self._failed_attempt(message, attempt, self._outcome(exc))
                return
            await self._sent_many([(message, result)])

    async def _send_batch(self, batch: list[Message]) -> None:
        """Send `batch` in order (pacing is off); see the module docstring for the transactions."""
        batch = await self._not_held(await self._left_unknown(batch))
        if not batch:
            return
        wa_ids = await self._mark_sending(batch)
        done: list[tuple[Message, SendResult]] = []
        async with self.lock:
            started = time.monotonic()
            for n, message in enumerate(batch):
                if await self.limit.holds(message):  # a send of this batch met the limit
                    await self._requeue(message, message.attempts, self.limit.paused_for(), message.error)
                    continue
                try:
                    async with asyncio.timeout(SEND_TIMEOUT_S):
                        result = await self._call_transport(message, wa_ids[message.id])
                except SessionNotConnected:
                    await self._sent_many(done)
                    for rest in batch[n:]:  # not the messages' fault: they wait for the session
                        await self._requeue(rest, rest.attempts, None)
                    return
                except MediumUnreachable as exc:  # the media store is out: this one waits for it, the rest go on
                    await self._sent_many(done)
                    done, started = [], time.monotonic()
                    await self._requeue(message, message.attempts, STORE_RETRY_S, exc.message)
                except SendLimited as exc:
                    await self._limited(message, exc)
                    continue
                except (TransportError, TimeoutError, OSError) as exc:
                    await self._sent_many(done)
                    done, started = [], time.monotonic()
                    await self._failed_attempt(message, message.attempts + 1, self._outcome(exc))
                    continue
                done.append((message, result))
                if time.monotonic() - started >= BATCH_FLUSH_S:
                    await self._sent_many(done)
                    done, started = [], time.monotonic()
            await self._sent_many(done)

    async def _not_held(self, batch: list[Message]) -> list[Message]:
        """The messages of `batch` that may go now; those to new contacts wait out a send limit's pause (and the
        first one after it is the probe: sent, it lifts the limit)."""
        if not self.limit.limited:
            return batch
        free = []
        for message in batch:
            if await self.limit.holds(message):
                await self._requeue(message, message.attempts, self.limit.paused_for(), message.error)
            else:
                free.append(message)
        return free

    async def _limited(self, message: Message, exc: SendLimited) -> None:
        """WhatsApp refused the send for its limit: nothing left; the message waits out the pause, uncounted."""
        pause = await self.limit.refused(exc)
        await self._requeue(message, message.attempts, pause, exc.message)
        metrics.count_send("limited")

    async def _mark_sending(self, batch: list[Message]) -> dict[int, str]:
        """Mark `batch` `sending` in one write, storing a WhatsApp message id where a row has none; returns the ids."""
        wa_ids = {m.id: m.wa_message_id or new_message_id() for m in batch}
        table = cast(Table, Message.__table__)
        async with self.db() as session, session.begin():
            await session.execute(
                update(table).where(table.c.id == bindparam("b_id")).values(
                    status=MessageStatus.SENDING, attempts=table.c.attempts + 1, updated_at=utcnow(),
                    # A row's first id is kept for good, even against another bridge that read the row before this
                    # write (one frozen and woken while the session moved): both then send under one id.
                    wa_message_id=func.coalesce(table.c.wa_message_id, bindparam("b_wa_id"))),
                [{"b_id": m_id, "b_wa_id": wa_id} for m_id, wa_id in wa_ids.items()],
            )
            stored = await session.execute(select(Message.id, Message.wa_message_id).where(Message.id.in_(wa_ids)))
            wa_ids.update({m_id: wa_id for m_id, wa_id in stored if wa_id})
        return wa_ids

    async def _sent_many(self, done: list[tuple[Message, SendResult]]) -> None:
        """Publish the events of sent messages in one pipeline, then mark them `sent` in one transaction.

        Events first: a process killed between the two leaves the rows `sending`, so they are sent again (under
        their ids: WhatsApp keeps one) with their events again, whose ids are the same (`message_event_id`), so
        fan-out makes no second webhook; the other order would leave rows `sent` whose webhooks never go out.
        """
        if not done:
            return
        now = utcnow()  # before the events and the Redis write: a receipt must never look older than its send
        await self._mark_sent_time()
        await self._publish_many("message.sent", [
            (m, {"status": "sent", "messageId": r.message_id, "timestamp": int(r.timestamp)}) for m, r in done])
        await self._record_sent(done, now)

    async def _record_sent(self, done: list[tuple[Message, SendResult]], now: datetime) -> None:
        """Mark the messages `sent`. WhatsApp has them: giving up would leave them `sending`, and the next turn
        would send them again, so a database out of reach (a restart, a failover) is waited for."""
        table = cast(Table, Message.__table__)

        async def write() -> None:
            async with self.db() as session, session.begin():
                await session.execute(
                    update(table).where(table.c.id == bindparam("b_id")).values(
                        status=MessageStatus.SENT, wa_message_id=bindparam("b_wa_id"), sent_at=now, error=None,
                        updated_at=now),
                    [{"b_id": m.id, "b_wa_id": r.message_id} for m, r in done],
                )
                await session.execute(
                    update(WaSession).where(WaSession.id == self.session_id)
                    .values(messages_sent=WaSession.messages_sent + len(done), last_seen_at=now)
                )
                await chats.record(session, self.session_id, [
                    chats.Activity(jid=m.chat_jid, message_id=m.id, at=now) for m, _ in done if m.chat_jid])

        await when_reachable(write, patience_s=SENT_WRITE_PATIENCE_S, log=self.log, what="sent status not written",
                             retry_on=(DBAPIError, OSError), message_ids=[m.id for m, _ in done])
        try:
            await sent_changes.apply(self.db, [m for m, _ in done], now)
        except (DBAPIError, OSError):  # the edit or revoke is sent; only the gateway's copy of its target lags
            self.log.warning("target of a sent edit or revoke not updated", exc_info=True)
        for _ in done:
            metrics.count_send("sent")
        if self.limit.limited and not self.limit.paused_for():
            await self.limit.lift("a send after the pause was taken")
        # One line per batch: with pacing off, a JSON line per message cost the bridge as much CPU as the send.
        self.log.info("sent", message_ids=[m.id for m, _ in done], wa_message_ids=[r.message_id for _, r in done])

    async def _failed_attempt(self, message: Message, attempt: int, exc: BaseException) -> None:
        """A transient or permanent transport error: retry later, or fail the message with the reason."""
        await self._mark_sent_time()
        if isinstance(exc, SendOutcomeUnknown):
            await self._unknown(message, exc.message)
            return
        error = exc if isinstance(exc, TransportError) else TransportError(f"send failed: {exc!r}")
        log_ = self.log.bind(message_id=message.id)
        if error.permanent or attempt >= MAX_ATTEMPTS:
            await self._fail(message, error.message)
            metrics.count_send("failed")
            log_.warning("send failed", reason=error.message, attempt=attempt, permanent=error.permanent)
        else:
            delay = RETRY_BACKOFF_S[min(attempt - 1, len(RETRY_BACKOFF_S) - 1)]
            await self._requeue(message, attempt, delay, error.message)
            metrics.count_send("retried")
            log_.info("send will be retried", reason=error.message, attempt=attempt, retry_in_s=delay)

    async def _call_transport(self, message: Message, wa_id: str) -> SendResult:
        to = message.recipient or ""
        if message.type == MessageType.TEXT and to == STATUS_JID:  # a text status: its background and font
            look = (message.content or {}).get("status") or {}
            return await self.transport.send_status_text(self.session_id, message.body or "", message_id=wa_id,
                                                         background_argb=look.get("background_argb"),
                                                         font=look.get("font"))
        if outgoing_rows.is_plain(message) and message.type == MessageType.TEXT:
            return await self.transport.send_text(self.session_id, to, message.body or "", reply_to=message.reply_to,
                                                  message_id=wa_id)
        if outgoing_rows.is_plain(message) and message.type == MessageType.LOCATION:
            content = message.content or {}
            return await self.transport.send_location(
                self.session_id, to, float(content["latitude"]), float(content["longitude"]),
                name=content.get("name"), address=content.get("address"), message_id=wa_id,
            )
        data = None
        if message.type in outgoing_rows.MEDIA_ROW_TYPES:
            data = await media_bytes(self.db, self.media, message)  # from the media store, or an older file
        # A reaction, edit or revoke goes to the chat of the message it is about (a group, or a LID-addressed chat).
        to = (message.content or {}).get("target_chat") or to
        return await self.transport.send(self.session_id, to, outgoing_rows.outgoing_of(message, data),
                                         message_id=wa_id)

    async def _show_typing(self, message: Message) -> None:
        if message.type != MessageType.TEXT or not message.body or not self.pacing.typing_s_per_char:
            return
        async with self.db() as session:
            typing = await session.scalar(select(WaSession.typing_enabled).where(WaSession.id == self.session_id))
        if not typing:
            return
        seconds = min(self.pacing.typing_max_s, len(message.body) * self.pacing.typing_s_per_char)
        chat = message.recipient or ""
        with contextlib.suppress(TransportError):
            await self.transport.set_typing(self.session_id, chat, True)
            await asyncio.sleep(seconds)
            await self.transport.set_typing(self.session_id, chat, False)

    async def _fail(self, message: Message, reason: str) -> None:
        async def write() -> None:
            async with self.db() as session, session.begin():
                await session.execute(
                    update(Message).where(Message.id == message.id)
                    .values(status=MessageStatus.FAILED, error=reason[:1000], failed_at=utcnow())
                )
                await session.execute(
                    update(WaSession).where(WaSession.id == self.session_id)
                    .values(messages_failed=WaSession.messages_failed + 1)
                )

        # Left `sending`, the message would be sent again: wait for the database (or a connection of the pool).
        await when_reachable(write, patience_s=SENT_WRITE_PATIENCE_S, log=self.log, what="failed status not written",
                             message_id=message.id)
        await self._publish("message.failed", message, status="failed", error=reason)

    async def _unknown(self, message: Message, reason: str) -> None:
        """WhatsApp may or may not have the message: not sent again blindly, reported for the caller to decide."""
        async with self.db() as session, session.begin():
            await session.execute(update(Message).where(Message.id == message.id).values(
                status=MessageStatus.UNKNOWN, error=reason[:1000], updated_at=utcnow()))
        message.status = MessageStatus.UNKNOWN
        metrics.count_send("unknown")
        metrics.count_transport_incident("send_unknown")
        self.log.warning("send outcome unknown", message_id=message.id, reason=reason)
        await self._publish("message.unknown", message, status="unknown", error=reason)

    async def _requeue(self, message: Message, attempts: int, delay_s: float | None, reason: str | None = None) -> None:
        values: dict[str, object] = {"status": MessageStatus.QUEUED, "attempts": attempts, "error": reason}
        if delay_s is not None:
            values["send_at"] = utcnow() + timedelta(seconds=delay_s)
            self.retry_at(delay_s)

        async def write() -> None:
            async with self.db() as session, session.begin():
                await session.execute(update(Message).where(Message.id == message.id).values(**values))

        await when_reachable(write, patience_s=SENT_WRITE_PATIENCE_S, log=self.log, what="requeue not written",
                             message_id=message.id)

    async def _publish(self, name: str, message: Message, **data: object) -> None:
        await self._publish_many(name, [(message, data)])

    async def _publish_many(self, name: str, items: list[tuple[Message, dict[str, object]]]) -> None:
        """Publish the events of committed changes, waiting for Redis while it is away (see `publish_durably`);
        the sender pauses meanwhile, as it could not be woken anyway."""
        envelopes = [events.message_envelope(name, self.session_id, m.id, {
            "to": m.recipient, "type": m.type.value, "priority": m.priority.value, "broadcastId": m.broadcast_id,
            **data}) for m, data in items]
        await events.publish_durably(self.redis, await self.tenant_id(), *envelopes, log=self.log,
                                       what="message events", event_name=name, message_ids=[m.id for m, _ in items])
