"""Event exports: create, list, change and delete them (audited); scoped like webhooks.

An export is global (no tenant, no session), a tenant's, or one session's, and filters events by name like a
webhook. A caller bound to a tenant (`scope_tenant`) sees and makes only that tenant's exports. The broker URL
may carry a password: it is stored encrypted (wagate.services.webhooks.secrets_box) and every answer, audit and
log shows it without the password. A new export receives the events published from its creation on. A caller
bound to a tenant may not point an export at the gateway's own network (see `_check_host`).
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.db.models_export import EventExport
from wagate.db.models_whatsapp import WaSession
from wagate.errors import Invalid, NotFound
from wagate.services.exports import backlog
from wagate.services.exports.brokers import shown_url, url_problem
from wagate.services.exports.stream import ensure_group
from wagate.services.operations import audit
from wagate.services.webhooks import secrets_box
from wagate.services.webhooks.endpoints import Caller
from wagate.services.webhooks.ssrf import check_saved_url

EDITABLE = ("target", "prefix", "events", "is_active", "description")


def as_dict(export: EventExport, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": export.id, "tenant_id": export.tenant_id, "session_id": export.session_id, "kind": export.kind.value,
        "url": export.url_shown, "target": export.target, "prefix": export.prefix, "events": export.events,
        "is_active": export.is_active, "description": export.description, "status": status,
        "created_at": export.created_at.isoformat(), "updated_at": export.updated_at.isoformat(),
    }


def _audit(db: AsyncSession, caller: Caller, action: str, export: EventExport, details: dict[str, Any] | None = None
           ) -> None:
    audit.record(db, actor_type=caller.actor.actor_type, actor_id=caller.actor.actor_id, action=action,
                 target_type="event_export", target_id=export.id, tenant_id=export.tenant_id, ip=caller.ip,
                 details=details)


async def _owned(db: AsyncSession, caller: Caller, export_id: int) -> EventExport:
    export = await db.get(EventExport, export_id)
    if export is None or (caller.scope_tenant is not None and export.tenant_id != caller.scope_tenant):
        raise NotFound("Export not found")
    return export


async def _start_group(redis: Redis, export_id: int) -> None:
    """The export's group from now on, so events published before the worker's next round are not missed.

    Redis away: the worker makes it on its next round instead (from that moment)."""
    with contextlib.suppress(RedisError, OSError):
        await ensure_group(redis, export_id)


async def _check_host(settings: Settings, caller: Caller, url: str) -> None:
    """A caller bound to a tenant may not point the worker at the gateway's own network (loopback, private,
    link-local, metadata addresses), as for webhooks, unless WEBHOOK_ALLOW_PRIVATE; an install-wide admin may,
    as brokers usually live there."""
    if caller.scope_tenant is None:
        return
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    await check_saved_url(f"http://{host}:{parts.port or 80}/", allow_private=settings.webhook_allow_private,
                          ip=caller.ip)


async def create_export(db_factory: async_sessionmaker[AsyncSession], redis: Redis, settings: Settings,
                        caller: Caller, data: dict[str, Any]) -> EventExport:
    """Validated `data` (wagate.schemas.exports) → the stored export."""
    await _check_host(settings, caller, data["url"])
    tenant_id = caller.scope_tenant if caller.scope_tenant is not None else data.get("tenant_id")
    async with db_factory() as db, db.begin():
        session_id = data.get("session_id")
        if session_id is not None:
            session = await db.get(WaSession, session_id)
            if session is None or (tenant_id is not None and session.tenant_id != tenant_id):
                raise Invalid("Invalid export", {"session_id": ["no such session"]})
            tenant_id = session.tenant_id
        export = EventExport(tenant_id=tenant_id, session_id=session_id, kind=data["kind"],
                             url_encrypted=secrets_box.encrypt(settings.encryption_key, data["url"]),
                             url_shown=shown_url(data["url"]), target=data["target"], prefix=data["prefix"],
                             events=data["events"], is_active=data.get("is_active", True),
                             description=data.get("description"))
        db.add(export)
        await db.flush()
        _audit(db, caller, "export.create", export, {"kind": export.kind.value, "url": export.url_shown,
                                                     "events": export.events, "session_id": session_id})
    if export.is_active:
        await _start_group(redis, export.id)
    return export


async def list_exports(db_factory: async_sessionmaker[AsyncSession], caller: Caller) -> list[EventExport]:
    query = select(EventExport).order_by(EventExport.id)
    if caller.scope_tenant is not None:
        query = query.where(EventExport.tenant_id == caller.scope_tenant)
    async with db_factory() as db:
        return list(await db.scalars(query))


async def get_export(db_factory: async_sessionmaker[AsyncSession], caller: Caller, export_id: int) -> EventExport:
    async with db_factory() as db:
        return await _owned(db, caller, export_id)


async def update_export(db_factory: async_sessionmaker[AsyncSession], redis: Redis, settings: Settings,
                        caller: Caller, export_id: int, changes: dict[str, Any]) -> EventExport:
    if "url" in changes:
        await _check_host(settings, caller, changes["url"])
    async with db_factory() as db, db.begin():
        export = await _owned(db, caller, export_id)
        if "url" in changes and (problem := url_problem(export.kind, changes["url"])):
            raise Invalid("Invalid export", {"url": [problem]})
        for name in EDITABLE:
            if name in changes:
                setattr(export, name, changes[name])
        if "url" in changes:
            export.url_encrypted = secrets_box.encrypt(settings.encryption_key, changes["url"])
            export.url_shown = shown_url(changes["url"])
        await db.flush()
        shown = {k: v for k, v in changes.items() if k in EDITABLE}
        if "url" in changes:
            shown["url"] = export.url_shown
        _audit(db, caller, "export.update", export, shown)
    if export.is_active:
        await _start_group(redis, export.id)
    return export


async def delete_export(db_factory: async_sessionmaker[AsyncSession], redis: Redis, caller: Caller,
                        export_id: int) -> None:
    """The export goes, with its group (and what it had yet to publish); with Redis away, the worker drops the
    group on a later round."""
    async with db_factory() as db, db.begin():
        export = await _owned(db, caller, export_id)
        _audit(db, caller, "export.delete", export, {"kind": export.kind.value, "url": export.url_shown})
        await db.delete(export)
    with contextlib.suppress(RedisError, OSError):
        await backlog.forget_one(redis, export_id)


async def statuses(redis: Redis) -> dict[int, dict[str, Any]]:
    """Per export: broker up or down (and since when), events waiting and the age of the oldest, in seconds."""
    try:
        figures = {f.export_id: f for f in await backlog.figures(redis)}
    except (RedisError, OSError):
        return {}
    return {i: {"up": f.up, "down_for_s": f.down_for_s, "waiting": f.waiting, "lag_s": f.lag_s}
            for i, f in figures.items()}
