"""The figures the dashboard and /metrics both show, each defined once: its words and its query live here.

A figure's words are its definition: the dashboard shows them as the card's tooltip and /metrics as the
metric's help text, and both run the query built here, so the two never count different things.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select

from wagate.db.enums import Direction, MessageStatus
from wagate.db.models_whatsapp import Message

WAITING_STATUSES = (MessageStatus.QUEUED, MessageStatus.SENDING)
MESSAGES_WAITING = ("Messages waiting: outgoing messages not sent yet (status queued or sending), counted from the "
                    "database whatever their job's state; Prometheus wagate_messages_waiting")
SENT_TODAY = ("Sent today: outgoing messages WhatsApp accepted (sent, delivered or read) since midnight in the "
              "gateway's time zone; received and still-queued messages are not counted; Prometheus has no day figure")
JOBS_QUEUED = ("Jobs in an arq queue (ZCARD), due or deferred: jobs, not messages (a queued message has one send job "
               "once it is enqueued); messages waiting to be sent are wagate_messages_waiting")


def waiting_by_status(*conditions: ColumnElement[bool]) -> Select[MessageStatus, int]:
    """(status, count) of the messages waiting to be sent: the dashboard's Queue length, wagate_messages_waiting."""
    return (select(Message.status, func.count()).where(Message.status.in_(WAITING_STATUSES), *conditions)
            .group_by(Message.status))


def sent_between(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """The messages counted as sent in [start, end): outgoing, accepted by WhatsApp in that time."""
    return [Message.direction == Direction.OUTBOUND, Message.sent_at >= start, Message.sent_at < end]


def sent_by_session(start: datetime, end: datetime, *conditions: ColumnElement[bool]) -> Select[str | None, int]:
    """(session id, count) of `sent_between` per session: a session card's Sent today."""
    return (select(Message.session_id, func.count()).where(*sent_between(start, end), *conditions)
            .group_by(Message.session_id))
