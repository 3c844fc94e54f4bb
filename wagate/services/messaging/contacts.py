"""A session's contacts: the cache the bridge keeps in `contacts`, and asking the bridge to refresh it.

Reading with a sync (the default of `GET /v1/sessions/{id}/contacts`) asks the session's bridge for a
`sync_contacts` command and waits up to `SYNC_WAIT_S` for it to finish, then reads the cache. A bridge that
is slower than that (or down) does not fail the read: the cache is returned as it is, and `sync` says what
happened (`requested`, `completed`, `job_id`, `reason`), so a client can read again later. A session that is
not connected cannot be synced; its cache is returned with `requested: false` and the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from arq.connections import ArqRedis
from arq.jobs import Job, JobStatus
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import Contact
from wagate.errors import Conflict
from wagate.queue.names import bridge_queue, shard_of
from wagate.services.sessions import lifecycle
from wagate.services.sessions.lifecycle import Actor

Db = async_sessionmaker[AsyncSession]

SYNC_WAIT_S = 5.0  # long enough for a connected bridge to read its address book, short enough for an HTTP call
POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class SyncState:
    requested: bool
    completed: bool = False
    job_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ContactList:
    items: list[Contact]
    sync: SyncState | None  # None: no sync was asked for


async def list_contacts(db: Db, session_id: str, *, tenant_id: int | None) -> list[Contact]:
    """The cached contacts of the session, by name then JID; `Forbidden` for another tenant's session."""
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    async with db() as s:
        return list(await s.scalars(
            select(Contact).where(Contact.session_id == session_id)
            .order_by(Contact.name.is_(None), Contact.name, Contact.push_name, Contact.jid)
        ))


async def request_sync(db: Db, redis: ArqRedis, settings: Settings, session_id: str, *, tenant_id: int | None,
                       actor: Actor) -> str:
    """Queue a `sync_contacts` command for a connected session; its job id. `Conflict` when not connected."""
    row = await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    if row.status != SessionStatus.WORKING:
        raise Conflict(f"Session is {row.status}, not WORKING: connect it before syncing contacts",
                       {"status": str(row.status)})
    return await lifecycle.request(db, redis, settings, session_id, "sync_contacts", tenant_id=tenant_id,
                                  actor=actor)


async def contacts_after_sync(db: Db, redis: ArqRedis, settings: Settings, session_id: str, *,
                              tenant_id: int | None, actor: Actor, wait_s: float = SYNC_WAIT_S) -> ContactList:
    """Sync (waiting at most `wait_s`), then the cache; see the module docstring."""
    try:
        job_id = await request_sync(db, redis, settings, session_id, tenant_id=tenant_id, actor=actor)
    except Conflict as exc:
        return ContactList(await list_contacts(db, session_id, tenant_id=tenant_id),
                           SyncState(requested=False, reason=exc.message))
    completed, reason = await _wait(redis, job_id, bridge_queue(shard_of(session_id, settings.bridge_shards)),
                                    wait_s)
    return ContactList(await list_contacts(db, session_id, tenant_id=tenant_id),
                       SyncState(requested=True, completed=completed, job_id=job_id, reason=reason))


async def _wait(redis: ArqRedis, job_id: str, queue: str, wait_s: float) -> tuple[bool, str | None]:
    """(finished successfully, why not) for a job, polled until `wait_s` has passed."""
    job = Job(job_id, redis, _queue_name=queue)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    try:
        while True:
            status = await job.status()
            if status == JobStatus.complete:
                info = await job.result_info()
                if info is not None and not info.success:
                    return False, f"the bridge could not sync: {info.result!r}"
                return True, None
            if loop.time() >= deadline:
                return False, "the bridge has not finished yet; the contacts below may be out of date"
            await asyncio.sleep(POLL_S)
    except (RedisError, OSError):
        return False, "the job queue (Redis) is unavailable"
