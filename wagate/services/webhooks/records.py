"""Attempt outcomes written together: the attempts that finish while a write is in flight share the next one.

Each attempt stores its row in `webhook_attempts` and its outcome on the delivery. Written one transaction per
attempt, a steady stream costs a commit per webhook; here the outcomes that arrive while a commit is in flight
wait for it and then go in one transaction (one executemany INSERT, one executemany UPDATE). Each caller still
waits for its own row to be committed and gets its own error: a batch that fails is written again one row per
transaction, so one bad row never fails the others.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import DeliveryStatus
from wagate.db.models_delivery import WebhookAttempt, WebhookDelivery
from wagate.db.types import utcnow

_deliveries = cast(Table, WebhookDelivery.__table__)
# Only the delivery's attempt just made: a row another attempt moved on meanwhile is left alone.
_OUTCOME = update(_deliveries).where(_deliveries.c.id == bindparam("b_id"),
                                     _deliveries.c.attempts == bindparam("b_attempt")).values(
    status=bindparam("b_status"), next_attempt_at=bindparam("b_next_at"), last_status_code=bindparam("b_code"),
    last_error=bindparam("b_error"), last_duration_ms=bindparam("b_ms"), delivered_at=bindparam("b_delivered_at"),
    updated_at=bindparam("b_now"))


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    delivery_id: int
    attempt: int
    status: DeliveryStatus
    next_attempt_at: datetime | None
    status_code: int | None
    error: str | None
    duration_ms: int


class AttemptRecords:
    """Writes `AttemptRecord`s for one worker process; `await write(record)` returns once it is committed."""

    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db
        self._waiting: list[tuple[AttemptRecord, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, record: AttemptRecord) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((record, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await asyncio.shield(done)  # a cancelled caller leaves the write to finish for the others

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await _commit(self.db, [r for r, _ in batch])
            except Exception as error:  # noqa: BLE001 - each caller gets its own row's answer below
                if len(batch) == 1:
                    _answer(batch[0][1], error)
                    continue
                for record, done in batch:
                    try:
                        await _commit(self.db, [record])
                    except Exception as own:  # noqa: BLE001 - handed to its caller
                        _answer(done, own)
                    else:
                        _answer(done, None)
                continue
            for _, done in batch:
                _answer(done, None)


def _answer(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


async def _commit(db: async_sessionmaker[AsyncSession], records: list[AttemptRecord]) -> None:
    now = utcnow()
    attempts: list[dict[str, Any]] = [
        {"delivery_id": r.delivery_id, "attempt": r.attempt, "status_code": r.status_code,
         "duration_ms": r.duration_ms, "error": r.error, "created_at": now} for r in records]
    outcomes: list[dict[str, Any]] = [
        {"b_id": r.delivery_id, "b_attempt": r.attempt, "b_status": r.status, "b_next_at": r.next_attempt_at,
         "b_code": r.status_code, "b_error": r.error, "b_ms": r.duration_ms, "b_now": now,
         "b_delivered_at": now if r.status == DeliveryStatus.DELIVERED else None} for r in records]
    async with db() as session, session.begin():
        await session.execute(insert(WebhookAttempt), attempts)
        await session.execute(_OUTCOME, outcomes)
