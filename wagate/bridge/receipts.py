"""Delivery and read receipts: outgoing rows move forward only (sent → delivered → read), with one event per move.

Receipts that arrive together (a send batch is followed by a burst of them) are applied together: one read of
the rows they name, one pipeline for their events, one UPDATE per target status. Within a group, receipts
count in arrival order, so a message delivered then read in the same group gets both events, in that order;
a late "delivered" never undoes "read", and a "read" alone also stamps `delivered_at`.

Events first, then rows: a bridge killed between the two has published an event whose row did not move (a
webhook a receiver may see twice if WhatsApp repeats the receipt) rather than a moved row whose event is lost.
While Redis is away the receipts wait for it (`events.publish_durably`), with no transaction held open; the
rows are written after, and only if they can still move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from sqlalchemy import Table, bindparam, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import Direction, MessageStatus
from wagate.db.models_whatsapp import Message
from wagate.db.types import UTCDateTime, utcnow
from wagate.services import events
from wagate.transport.base import ReceiptReceived

log = structlog.get_logger(__name__)

# Which statuses a receipt may move a message from: a late "delivered" never undoes "read".
_DELIVERED_FROM = (MessageStatus.SENDING, MessageStatus.SENT)
_READ_FROM = (MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED)
RECEIPT_MOVES = {
    "delivered": (MessageStatus.DELIVERED, _DELIVERED_FROM),
    "read": (MessageStatus.READ, _READ_FROM),
    "played": (MessageStatus.READ, _READ_FROM),
}
_EVENT_NAMES = {MessageStatus.DELIVERED: "message.delivered", MessageStatus.READ: "message.read"}
_messages = cast(Table, Message.__table__)
# Built once: the session's outgoing rows named by the receipts that a receipt may still move (not yet read).
_MOVABLE = (
    select(_messages.c.id, _messages.c.wa_message_id, _messages.c.status, _messages.c.recipient,
           _messages.c.broadcast_id)
    .where(_messages.c.session_id == bindparam("session_id"), _messages.c.direction == Direction.OUTBOUND,
           _messages.c.wa_message_id.in_(bindparam("wa_ids", expanding=True)), _messages.c.status.in_(_READ_FROM))
)
_TO_DELIVERED = update(_messages).where(_messages.c.id.in_(bindparam("ids", expanding=True)),
                                        _messages.c.status.in_(_DELIVERED_FROM))
_TO_READ = update(_messages).where(_messages.c.id.in_(bindparam("ids", expanding=True)),
                                   _messages.c.status.in_(_READ_FROM))


@dataclass(slots=True)
class _Move:
    """Where one row ends after the receipts of a group, and the times they stamped on it."""

    id: int
    status: MessageStatus
    delivered_at: datetime | None = None
    read_at: datetime | None = None


def _when(receipt: ReceiptReceived) -> datetime:
    return datetime.fromtimestamp(receipt.timestamp, UTC) if receipt.timestamp else utcnow()


async def apply_receipts(db: async_sessionmaker[AsyncSession], redis: Redis, session_id: str,
                         receipts: Sequence[ReceiptReceived], tenant_id: int | None) -> int:
    """Apply a session's receipts in arrival order; returns how many status changes (and events) they made."""
    async with db() as session:
        rows = (await session.execute(_MOVABLE, {
            "session_id": session_id, "wa_ids": list({mid for r in receipts for mid in r.message_ids})})).all()
    if not rows:
        return 0
    moves, published = _replay(session_id, receipts, rows)
    if not published:
        return 0
    await events.publish_durably(redis, tenant_id, *published, log=log, what="receipt events",
                                 session_id=session_id, message_ids=[m.id for m in moves])
    async with db() as session, session.begin():
        await _write(session, moves)
    return len(published)


def _replay(session_id: str, receipts: Sequence[ReceiptReceived], rows: Sequence[Any]
            ) -> tuple[list[_Move], list[dict[str, Any]]]:
    """The receipts in arrival order against the rows: where each moved row ends, and one event per move."""
    by_wa_id: dict[str, list[Any]] = {}
    for row in rows:
        by_wa_id.setdefault(row.wa_message_id, []).append(row)
    moves = {row.id: _Move(row.id, row.status) for row in rows}
    published = []
    for receipt in receipts:
        new_status, movable = RECEIPT_MOVES[receipt.kind]
        when = _when(receipt)
        for wa_id in receipt.message_ids:
            for row in by_wa_id.get(wa_id, ()):
                move = moves[row.id]
                if move.status not in movable:
                    continue
                move.status = new_status
                if new_status == MessageStatus.DELIVERED:
                    move.delivered_at = when
                else:
                    move.read_at = when
                published.append(events.message_envelope(_EVENT_NAMES[new_status], session_id, row.id, {
                    "messageId": row.wa_message_id, "to": row.recipient, "status": new_status.value,
                    "broadcastId": row.broadcast_id, "timestamp": int(when.timestamp()),
                }))
    return [m for m in moves.values() if m.delivered_at or m.read_at], published


def _stamps(moves: list[_Move], column: str) -> Any:
    """A per-row value of `column` for one UPDATE of many rows: CASE id WHEN … THEN its receipt's time."""
    t = _messages
    return case(*((t.c.id == m.id, literal(getattr(m, column), UTCDateTime())) for m in moves), else_=t.c[column])


async def _write(session: AsyncSession, changed: list[_Move]) -> None:
    """One UPDATE per target status; the status filter keeps a row that moved meanwhile from going back."""
    t = _messages
    now = utcnow()
    delivered = [m for m in changed if m.status == MessageStatus.DELIVERED]
    read = [m for m in changed if m.status == MessageStatus.READ]
    for m in read:  # a read message was delivered too, even if that receipt never came
        m.delivered_at = m.delivered_at or m.read_at
    if delivered:
        await session.execute(_TO_DELIVERED.values(
            status=MessageStatus.DELIVERED, delivered_at=_stamps(delivered, "delivered_at"), updated_at=now,
        ), {"ids": [m.id for m in delivered]})
    if read:
        await session.execute(_TO_READ.values(
            status=MessageStatus.READ, read_at=_stamps(read, "read_at"), updated_at=now,
            delivered_at=func.coalesce(t.c.delivered_at, _stamps(read, "delivered_at")),
        ), {"ids": [m.id for m in read]})
