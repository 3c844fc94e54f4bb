"""Calls to the session's number: `call.received` and `call.ended` events, and the session's call policy applied
(reject at once, and answer the caller with the configured message through the send queue)."""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.bridge.inbound import _count_against_subscription
from wagate.db.enums import Direction, MessageStatus, MessageType, Priority
from wagate.db.models_whatsapp import Message, WaSession
from wagate.errors import TransportError
from wagate.services import events
from wagate.services.sessions.call_policy import policy_of
from wagate.transport.base import CallEnded, CallOffered, WhatsAppTransport

log = structlog.get_logger(__name__)


async def handle(db: async_sessionmaker[AsyncSession], redis: Redis, transport: WhatsAppTransport,
                 event: CallOffered | CallEnded) -> bool:
    """Publish the call's event and apply the policy to an offer; True when a reply message was queued."""
    async with db() as session:
        row = await session.get(WaSession, event.session_id)
    if row is None:
        return False
    if isinstance(event, CallEnded):
        await _publish(redis, row, "call.ended", {"callId": event.call_id, "from": event.caller,
                                                  "reason": event.reason}, event.timestamp)
        return False
    policy = policy_of(row.settings)
    data: dict[str, object] = {"callId": event.call_id, "from": event.caller, "fromLid": event.caller_lid,
                               "video": event.video, "group": event.group, "rejected": False}
    if policy.reject_calls:
        try:
            await transport.reject_call(event.session_id, event.caller_lid or event.caller, event.call_id)
            data["rejected"] = True
        except TransportError as exc:  # the call rings on; the event says it was not rejected, and why
            log.warning("call not rejected", session_id=event.session_id, reason=exc.message)
            data["rejectError"] = exc.message
    await _publish(redis, row, "call.received", data, event.timestamp)
    if data["rejected"] and policy.reject_call_message:
        return await _queue_reply(db, row, event, policy.reject_call_message)
    return False


async def _publish(redis: Redis, row: WaSession, name: str, data: dict[str, object], timestamp: float) -> None:
    await events.publish_durably(redis, row.tenant_id, events.envelope(name, row.id, data, timestamp=timestamp or None),
                                 log=log, what=name, session_id=row.id)


async def _queue_reply(db: async_sessionmaker[AsyncSession], row: WaSession, event: CallOffered, text: str) -> bool:
    """The policy's message to the caller, a queued row like any send (once per call: its idempotency key)."""
    try:
        async with db() as session, session.begin():
            if row.tenant_id is not None and not await _count_against_subscription(session, row.tenant_id):
                log.info("call reply skipped: subscription expired or message limit reached", session_id=row.id)
                return False
            session.add(Message(
                session_id=row.id, direction=Direction.OUTBOUND, recipient=event.caller, type=MessageType.TEXT,
                body=text, status=MessageStatus.QUEUED, priority=Priority.NORMAL,
                idempotency_key=f"call-reply:{event.call_id}"[:191], content={"callId": event.call_id},
            ))
    except IntegrityError:  # the same offer handled twice: its reply is queued already
        return False
    log.info("call reply queued", session_id=row.id, call_id=event.call_id)
    return True
