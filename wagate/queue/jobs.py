"""Job names and typed enqueue helpers shared by web, worker and bridge (jobs are enqueued by name only).

Job ids make enqueueing idempotent: arq refuses a second job with the id of one still queued or running,
so a retried request or an outbox sweep never doubles a job.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from arq.connections import ArqRedis

from wagate.queue.names import WORKER_QUEUE, bridge_queue, shard_of, wake_channel

# bridge jobs (queue of the session's shard)
SEND_MESSAGE = "send_message"  # (session_id, message_id): wake the session's sender for a queued message
SESSION_COMMAND = "session_command"  # (session_id, command, params): start | stop | restart | logout | delete | pair
SIMULATOR_CONTROL = "simulator_control"  # (session_id, action, params): the simulator's phone side
SESSION_CALL = "session_call"  # (session_id, name, params): a call the web waits on (wagate.bridge.calls)

# worker jobs (the worker queue)
BROADCAST_EXPAND = "broadcast_expand"  # (broadcast_id,): turn the next chunk of recipients into queued messages

SESSION_COMMANDS = ("start", "stop", "restart", "logout", "delete", "pair_phone", "sync_contacts", "download_media")


async def enqueue_send(redis: ArqRedis, shards: int, session_id: str, message_id: int,
                       *, defer_until: datetime | None = None) -> None:
    """The send job (durable: the bridge polls its queue), then a pub/sub nudge so an idle bridge starts at once."""
    shard = shard_of(session_id, shards)
    await redis.enqueue_job(
        SEND_MESSAGE, session_id, message_id, _job_id=f"send:{message_id}",
        _queue_name=bridge_queue(shard), _defer_until=defer_until,
    )
    if defer_until is None:
        await redis.publish(wake_channel(shard), session_id)


async def enqueue_session_command(redis: ArqRedis, shards: int, session_id: str, command: str,
                                  params: dict[str, Any] | None = None) -> str:
    if command not in SESSION_COMMANDS:
        raise ValueError(f"unknown session command {command!r}")
    job_id = f"cmd:{session_id}:{command}:{uuid.uuid4().hex[:12]}"
    await redis.enqueue_job(
        SESSION_COMMAND, session_id, command, params or {}, _job_id=job_id,
        _queue_name=bridge_queue(shard_of(session_id, shards)),
    )
    return job_id


async def enqueue_session_call(redis: ArqRedis, shards: int, session_id: str, name: str,
                               params: dict[str, Any] | None = None) -> str:
    job_id = f"call:{session_id}:{name}:{uuid.uuid4().hex[:12]}"
    await redis.enqueue_job(
        SESSION_CALL, session_id, name, params or {}, _job_id=job_id,
        _queue_name=bridge_queue(shard_of(session_id, shards)),
    )
    return job_id


async def enqueue_simulator_control(redis: ArqRedis, shards: int, session_id: str, action: str,
                                    params: dict[str, Any] | None = None) -> str:
    job_id = f"sim:{session_id}:{action}:{uuid.uuid4().hex[:12]}"
    await redis.enqueue_job(
        SIMULATOR_CONTROL, session_id, action, params or {}, _job_id=job_id,
        _queue_name=bridge_queue(shard_of(session_id, shards)),
    )
    return job_id


def broadcast_expand_job_id(broadcast_id: int, position: int) -> str:
    """One id per chunk: a rerun, a resume and the tick's sweep all name the same job, so they never double it."""
    return f"broadcast:{broadcast_id}:expand:{position}"


async def enqueue_broadcast_expand(redis: ArqRedis, broadcast_id: int, position: int, *,
                                   job_id: str | None = None) -> bool:
    """Enqueue the expansion of the chunk starting at `position`; False when that job is already there."""
    job = await redis.enqueue_job(BROADCAST_EXPAND, broadcast_id,
                                  _job_id=job_id or broadcast_expand_job_id(broadcast_id, position),
                                  _queue_name=WORKER_QUEUE)
    return job is not None
