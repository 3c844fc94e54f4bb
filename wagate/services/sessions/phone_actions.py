"""The answer to a simulated phone action: wait for the bridge that plays it, so a refusal is not reported as done.

The bridge's `simulator_control` job returns the reason an action cannot happen (no QR code on screen, the
session is not linked …) or None. When the session's bridge shard is consuming, the web waits a few seconds for
that answer and turns a refusal into 409 with the reason; with no bridge running the action stays queued (202).
"""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis
from arq.jobs import Job, ResultNotFound
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import SessionStatus
from wagate.errors import Conflict
from wagate.queue.names import HEALTH_CHECK_SUFFIX, bridge_queue, shard_of
from wagate.services.sessions import lifecycle

# A phone action takes the bridge milliseconds; the wait only covers a busy shard picking the job up.
ANSWER_WITHIN_S = 10.0
_POLL_S = 0.05


async def wait_for_answer(redis: ArqRedis, shards: int, session_id: str, job_id: str) -> bool:
    """True once the bridge played the action, False while it is still queued; Conflict when it was refused."""
    queue = bridge_queue(shard_of(session_id, shards))
    if not await redis.exists(queue + HEALTH_CHECK_SUFFIX):
        return False  # no bridge consumes the shard: the action waits in the queue for one
    try:
        refusal = await Job(job_id, redis, _queue_name=queue).result(timeout=ANSWER_WITHIN_S, poll_delay=_POLL_S)
    except (TimeoutError, ResultNotFound):
        return False
    if refusal:
        raise Conflict(f"The phone cannot do that: {refusal}", {"session": [str(refusal)]})
    return True


async def wait_until_working(db: async_sessionmaker[AsyncSession], session_id: str,
                             within_s: float = ANSWER_WITHIN_S) -> bool:
    """After a scan or a pairing code: whether the bridge has the session WORKING (it connects again after the
    pairing, as whatsmeow does), so a send right after the answer finds it ready."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while (await lifecycle.get_session(db, session_id)).status != SessionStatus.WORKING:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True

