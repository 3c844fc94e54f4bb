"""WhatsApp's send limits on one session: sends to new contacts paused, replies flowing, resumed by itself.

WhatsApp answers a session that reached out to too many people with error 463 ("reachout timelock") and one that
sends too fast with 429 ("rate-overlimit"); whatsmeow hands on neither with a time to wait. Sending on to new
contacts (chats with no earlier message either way) would only lengthen the lock, so the session's sender holds
them back for a pause while its replies keep going. When the pause ends the next new-contact message is the probe:
sent, the limit is lifted; refused again, the pause doubles (up to `MAX_PAUSE_S`). A pause with no new-contact
message waiting simply ends. The state lives in Redis, so a restarted bridge keeps honouring it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import Direction, MessageStatus, SessionStatus
from wagate.db.models_whatsapp import Message, WaSession
from wagate.errors import SendLimited
from wagate.observability import metrics
from wagate.services import events

log = structlog.get_logger(__name__)

MAX_PAUSE_S = 6 * 3600.0  # a lock outlasting this is re-probed no less often: one refused send each time
REASON_PREFIX = "WhatsApp limits sends to new contacts"
_DELIVERED = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


def limit_key(session_id: str) -> str:
    return f"wagate:sendlimit:{session_id}"


class SendLimit:
    """One session's send limit, as its sender sees it."""

    def __init__(self, session_id: str, *, db: async_sessionmaker[AsyncSession], redis: Redis,
                 tenant_id: Callable[[], Awaitable[int | None]], pause_s: float) -> None:
        self.session_id, self.db, self.redis, self.tenant_id = session_id, db, redis, tenant_id
        self.pause_s = pause_s
        self.limited = False
        self.until = 0.0  # wall-clock time the pause ends
        self.strikes = 0  # refusals in a row: each doubles the pause
        self.code = 0

    async def load(self) -> None:
        """The limit a previous bridge process recorded for the session, if any."""
        try:
            raw = await self.redis.get(limit_key(self.session_id))
        except Exception:
            return
        if raw:
            state = json.loads(raw)
            self.limited, self.until, self.strikes, self.code = True, state["until"], state["strikes"], state["code"]

    def paused_for(self) -> float:
        """Seconds left of the pause (0 when new contacts may be tried)."""
        return max(0.0, self.until - time.time()) if self.limited else 0.0

    async def holds(self, message: Message) -> bool:
        """Whether `message` must wait out the pause: it goes to a new contact while the pause runs."""
        return self.paused_for() > 0 and await self.new_contact(message)

    async def new_contact(self, message: Message) -> bool:
        """No earlier message in the chat: one received, or one of ours WhatsApp took."""
        earlier = select(Message.id).where(
            Message.session_id == self.session_id, Message.chat_jid == message.chat_jid, Message.id != message.id,
            or_(Message.direction == Direction.INBOUND, Message.status.in_(_DELIVERED)))
        async with self.db() as session:
            return not await session.scalar(select(exists(earlier)))

    async def refused(self, exc: SendLimited) -> float:
        """WhatsApp refused a send for its limit: start (or lengthen) the pause; returns its length."""
        self.strikes += 1
        pause = exc.retry_after_s or min(self.pause_s * 2 ** (self.strikes - 1), MAX_PAUSE_S)
        self.limited, self.until, self.code = True, time.time() + pause, exc.code
        keep_ms = int((pause + MAX_PAUSE_S) * 1000)  # the strikes outlive the pause, so the next one is longer
        await self.redis.set(limit_key(self.session_id), json.dumps(
            {"until": self.until, "strikes": self.strikes, "code": self.code}), px=keep_ms)
        reason = f"{REASON_PREFIX} (error {exc.code}); trying again in {pause:.0f} s"
        await self._write_reason(reason, only_ours=False)
        metrics.count_transport_incident("send_limit")
        log.warning("whatsapp send limit", session_id=self.session_id, code=exc.code, pause_s=pause,
                    strikes=self.strikes)
        await self._publish("session.limited", {"code": exc.code, "reason": exc.message, "pauseSeconds": pause,
                                                "until": int(self.until), "strikes": self.strikes})
        return pause

    async def lift(self, why: str) -> None:
        """The limit is over (a new contact took a message, or the pause ended with none waiting)."""
        if not self.limited:
            return
        self.limited, self.until, self.strikes = False, 0.0, 0
        await self.redis.delete(limit_key(self.session_id))
        await self._write_reason(None, only_ours=True)
        log.info("whatsapp send limit lifted", session_id=self.session_id, why=why)
        await self._publish("session.unlimited", {"code": self.code, "reason": why})

    async def _write_reason(self, reason: str | None, *, only_ours: bool) -> None:
        """The limit shows in the status reason of a WORKING session; lifting it clears only a reason it wrote."""
        query = update(WaSession).where(WaSession.id == self.session_id, WaSession.status == SessionStatus.WORKING)
        if only_ours:
            query = query.where(WaSession.status_reason.startswith(REASON_PREFIX, autoescape=True))
        async with self.db() as session, session.begin():
            await session.execute(query.values(status_reason=reason))

    async def _publish(self, name: str, data: dict[str, Any]) -> None:
        await events.publish_durably(self.redis, await self.tenant_id(), events.envelope(name, self.session_id, data),
                                     log=log, what="send limit event", session_id=self.session_id)
