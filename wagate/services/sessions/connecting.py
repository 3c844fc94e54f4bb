"""Connecting a session on its own token's request (wuzapi's `/session/connect`): the tenant's session cap, then
the start command, and optionally a wait until WhatsApp answered (a QR code to scan, or the link restored).

Creating a session is capped by `max_sessions` already; connecting is capped again because the cap may have been
lowered since: a session connects only while fewer than `max_sessions` of its tenant's other sessions run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import Job
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import WaSession
from wagate.errors import Conflict, Forbidden, NotFound, TransportError, WAGateError
from wagate.queue.names import bridge_queue, shard_of
from wagate.services.sessions import lifecycle
from wagate.services.sessions.lifecycle import Actor

# Statuses of a session whose connection is up or under way.
RUNNING = (SessionStatus.STARTING, SessionStatus.SCAN_QR_CODE, SessionStatus.WORKING)
# WhatsApp has answered: a QR code is up, or the stored link was accepted.
ANSWERED = (SessionStatus.SCAN_QR_CODE, SessionStatus.WORKING)
POLL_S = 0.2
COMMAND_WAIT_S = 15.0  # a pairing code: the bridge may first have to open the connection to WhatsApp

Db = async_sessionmaker[AsyncSession]


async def check_can_connect(db: Db, session_id: str) -> WaSession:
    """The session, if it is not running and its tenant has a session slot free; `Conflict` / `Forbidden`."""
    async with db() as s:
        row = await s.get(WaSession, session_id)
        if row is None:
            raise NotFound("Session not found")
        if row.status in RUNNING:
            raise Conflict("Already Connected", {"status": str(row.status)})
        tenant = await s.get(Tenant, row.tenant_id) if row.tenant_id is not None else None
        if tenant is not None and tenant.max_sessions is not None:
            running = await s.scalar(select(func.count()).select_from(WaSession).where(
                WaSession.tenant_id == tenant.id, WaSession.id != session_id, WaSession.status.in_(RUNNING))) or 0
            if running >= tenant.max_sessions:
                raise Forbidden(f"session limit reached: the subscription allows {tenant.max_sessions} connected "
                                f"session(s) and {running} are connected; disconnect one first",
                                {"max_sessions": tenant.max_sessions, "connected": running})
    return row


async def connect(db: Db, redis: ArqRedis, settings: Settings, session_id: str, *, actor: Actor) -> str:
    """Check the cap and queue the start command; its job id."""
    await check_can_connect(db, session_id)
    return await lifecycle.request(db, redis, settings, session_id, "start", actor=actor)


async def wait_answered(db: Db, session_id: str, wait_s: float) -> WaSession:
    """The session once WhatsApp answered (`ANSWERED`), or as it is after `wait_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        row = await lifecycle.get_session(db, session_id)
        if row.status in ANSWERED or loop.time() >= deadline:
            return row
        await asyncio.sleep(POLL_S)


async def command_result(redis: ArqRedis, settings: Settings, session_id: str, job_id: str,
                         wait_s: float = COMMAND_WAIT_S) -> Any:
    """What the bridge's command job returned (a pairing code), waiting at most `wait_s`; `TransportError` when the
    job failed or did not finish in time."""
    job = Job(job_id, redis, _queue_name=bridge_queue(shard_of(session_id, settings.bridge_shards)))
    try:
        return await job.result(timeout=wait_s, poll_delay=POLL_S)
    except TimeoutError as exc:
        raise TransportError(f"the bridge did not answer within {wait_s:g} s; try again") from exc
    except WAGateError:
        raise
    except Exception as exc:  # noqa: BLE001 - the job's own error, re-raised by arq: told to the caller
        raise TransportError(f"the bridge could not do it: {exc}") from exc
