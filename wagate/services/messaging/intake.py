"""Group commit for single sends: the sends that arrive while one write is in flight share the next one.

A web process under load receives many sends at once. Written one by one, each costs a session read, a tenant
read, an insert and a commit (and, on SQLite, a wait for the single writer's lock); written together, a batch
costs one read of its sessions and tenants, one counting UPDATE per tenant, one multi-row INSERT, one commit
and one Redis pipeline. Nothing waits on purpose: a lone send is written at once, and sends only gather while
the write before them is in flight, so the idle latency is that of a single write.

Each send keeps its own answer. Every check `sending.queue_message` makes is made here in the same order
(session, status, subscription, fields), so a refusal is the same refusal; a send that needs more than the
common path (an idempotency key, a media file) or whose tenant reached its message limit within the batch is
handed to `queue_message` on its own, which decides it exactly. When the batch's transaction fails (the
database is down), each of its sends fails with that error and nothing of the batch is written.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import structlog
from arq.connections import ArqRedis
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.errors import Forbidden, Invalid, WAGateError
from wagate.services.messaging import sending
from wagate.services.messaging.drafts import Draft, SendRequest, validate
from wagate.services.messaging.sending import Owner, QueuedMessage

log = structlog.get_logger("wagate.messaging")

MAX_BATCH = 200  # rows in one INSERT: well under SQLite's and MySQL's statement limits


@dataclass(slots=True)
class _Pending:
    request: SendRequest
    tenant_id: int | None
    draft: Draft | None  # None: `invalid` says why, after the session checks (as queue_message orders them)
    invalid: Invalid | None
    answer: asyncio.Future[QueuedMessage] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SendIntake:
    """One per web process: `submit` a send, get its `QueuedMessage` (or its refusal) once its batch is written."""

    def __init__(self, db: async_sessionmaker[AsyncSession], redis: ArqRedis, settings: Settings) -> None:
        self.db, self.redis, self.settings = db, redis, settings
        self._waiting: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        self._follow_ups: set[asyncio.Task[None]] = set()

    async def submit(self, request: SendRequest, *, tenant_id: int | None = None) -> QueuedMessage:
        if request.needs_preparing or request.idempotency_key is not None:
            return await sending.queue_message(self.db, self.redis, self.settings, request, tenant_id=tenant_id)
        try:
            pending = _Pending(request, tenant_id, validate(request, self.settings, utcnow()), None)
        except Invalid as exc:
            pending = _Pending(request, tenant_id, None, exc)
        self._waiting.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_while_waiting())
        # Shielded: a caller that goes away must not cancel the answer the batch will set.
        return await asyncio.shield(pending.answer)

    async def close(self) -> None:
        """Write what is waiting (shutdown drains: an accepted send is never dropped)."""
        while self._writer is not None and not self._writer.done() or self._follow_ups:
            await asyncio.gather(*([self._writer] if self._writer else []), *self._follow_ups,
                                 return_exceptions=True)

    def _follow_up(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._follow_ups.add(task)  # a strong reference: the loop keeps only weak ones
        task.add_done_callback(self._follow_ups.discard)

    async def _write_while_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                written, alone = await self._write(batch)
            except BaseException as exc:  # noqa: BLE001 - every waiting caller hears of it, then it goes on
                for pending in batch:
                    if not pending.answer.done():
                        pending.answer.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            # The next batch is written while this one's jobs are enqueued.
            self._follow_up(self._wake_and_answer(written))
            for pending in alone:
                self._follow_up(self._write_alone(pending))

    async def _wake_and_answer(self, written: list[tuple[_Pending, Message]]) -> None:
        enqueued = False
        try:
            enqueued = await sending.wake_bridge(self.redis, self.settings, [message for _, message in written])
        finally:  # committed rows are accepted sends whatever happens to their jobs: the outbox sweep has them
            for pending, message in written:
                pending.answer.set_result(QueuedMessage(message, created=True, enqueued=enqueued))

    async def _write_alone(self, pending: _Pending) -> None:
        try:
            queued = await sending.queue_message(self.db, self.redis, self.settings, pending.request,
                                                   tenant_id=pending.tenant_id)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            pending.answer.set_exception(exc)
        else:
            pending.answer.set_result(queued)

    async def _write(self, batch: list[_Pending]) -> tuple[list[tuple[_Pending, Message]], list[_Pending]]:
        """Write what of `batch` can go together and answer the refusals; return the rows written and the sends
        to write alone."""
        now = utcnow()
        values: list[tuple[_Pending, dict[str, Any]]] = []
        alone: list[_Pending] = []
        async with self.db() as db:
            found = {s.id: s for s in await db.scalars(
                select(WaSession).where(WaSession.id.in_({p.request.session_id for p in batch})))}
            tenant_ids = {s.tenant_id for s in found.values() if s.tenant_id is not None}
            if tenant_ids:  # loaded into the session's identity map: `sendable_tenant` finds them there
                await db.scalars(select(Tenant).where(Tenant.id.in_(tenant_ids)))
            accepted: list[tuple[_Pending, Owner]] = []
            for pending in batch:
                try:
                    session = sending.check_owner(found.get(pending.request.session_id), pending.tenant_id)
                    tenant = await sending.sendable_tenant(db, session, now)
                    if pending.invalid is not None:
                        raise pending.invalid
                except WAGateError as exc:  # not found, another tenant's, not WORKING, expired, invalid
                    pending.answer.set_exception(exc)
                    continue
                accepted.append((pending, Owner(session.id, session.jid, tenant.id if tenant is not None else None)))
            per_tenant = Counter(owner.tenant_id for _, owner in accepted if owner.tenant_id is not None)
            over_limit: set[int] = set()
            for tenant_id, count in per_tenant.items():
                try:
                    await sending.count_messages(db, tenant_id, count, now)
                except Forbidden:  # at or near its limit: each send decided alone, so the limit holds exactly
                    over_limit.add(tenant_id)
            for pending, owner in accepted:
                if owner.tenant_id in over_limit:
                    alone.append(pending)
                else:
                    assert pending.draft is not None
                    values.append((pending, sending.row_values(owner, pending.draft, None, None)))
            messages = await _insert(db, [row for _, row in values], now)
            await db.commit()
        rows = [(pending, message) for (pending, _), message in zip(values, messages, strict=True)]
        if len(batch) > 1:
            log.debug("sends written together", sends=len(batch), written=len(rows), alone=len(alone))
        return rows, alone


async def _insert(db: AsyncSession, rows: list[dict[str, Any]], now: datetime) -> list[Message]:
    """A multi-row INSERT … RETURNING id of `rows` (SQLite, MariaDB ≥ 10.5), else the ORM's row by row; the
    written messages, in order.

    The ORM will not batch these itself: SQLite and MariaDB do not promise RETURNING's row order. The ids
    themselves follow the VALUES order (SQLite's single writer takes max(rowid) + 1 row by row; InnoDB hands a
    multi-row INSERT ascending ids), so the sorted ids are the rows' ids in order.
    """
    connection = await db.connection()
    if len(rows) < 2 or not connection.dialect.insert_returning:
        messages = [Message(**row) for row in rows]
        db.add_all(messages)
        await db.flush()
        return messages
    table = cast(Table, Message.__table__)
    # Every column, with the defaults no flush applies here.
    unset = {c.key: None for c in table.c if c.key != "id"} | {"created_at": now, "updated_at": now, "attempts": 0}
    rows = [unset | row for row in rows]
    # An executemany with RETURNING: SQLAlchemy's "insertmanyvalues" writes one multi-row INSERT from a cached
    # single-row statement (an `insert().values([...])` would compile a new statement for every batch).
    result = await connection.execute(insert(table).returning(table.c.id), rows)
    ids = sorted(result.scalars())
    if len(ids) != len(rows):
        raise RuntimeError(f"inserted {len(rows)} messages but got {len(ids)} ids back")
    return [_written(row | {"id": message_id}) for row, message_id in zip(rows, ids, strict=True)]


def _written(values: dict[str, Any]) -> Message:
    """A `Message` holding a written row's values, for reading only (the answer, the wake-up job): made without
    the ORM's event per attribute set (57 → 6 µs a row), so it must never be added to a session."""
    message = Message.__mapper__.class_manager.new_instance()
    vars(message).update(values)
    return message
