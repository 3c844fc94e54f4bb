"""Reading the audit trail: newest first, filtered by action, actor, target and time, one page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db.models_identity import AuditLog


@dataclass(frozen=True, slots=True)
class AuditFilters:
    action: str | None = None  # an exact action, or a prefix ending in "." ("session." for every session change)
    actor_type: str | None = None
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    result: str | None = None  # "success" or "denied"
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1
    limit: int = 50


def as_dict(entry: AuditLog) -> dict[str, Any]:
    return {"id": entry.id, "created_at": entry.created_at.isoformat(), "actor_type": str(entry.actor_type),
            "actor_id": entry.actor_id, "tenant_id": entry.tenant_id, "action": entry.action,
            "target_type": entry.target_type, "target_id": entry.target_id, "ip": entry.ip,
            "request_id": entry.request_id, "details": entry.details, "result": entry.result}


async def list_entries(db: AsyncSession, filters: AuditFilters, tenant_id: int | None) -> tuple[list[AuditLog], int]:
    """A page of entries and the total matching; a tenant-bound caller sees its tenant's entries only."""
    conditions: list[Any] = []
    if tenant_id is not None:
        conditions.append(AuditLog.tenant_id == tenant_id)
    if filters.action:
        action = filters.action
        conditions.append(AuditLog.action.startswith(action, autoescape=True) if action.endswith(".")
                          else AuditLog.action == action)
    for column, value in ((AuditLog.actor_type, filters.actor_type), (AuditLog.actor_id, filters.actor_id),
                          (AuditLog.target_type, filters.target_type), (AuditLog.target_id, filters.target_id),
                          (AuditLog.result, filters.result)):
        if value:
            conditions.append(column == value)
    if filters.since is not None:
        conditions.append(AuditLog.created_at >= filters.since)
    if filters.until is not None:
        conditions.append(AuditLog.created_at < filters.until)
    total = await db.scalar(select(func.count()).select_from(AuditLog).where(*conditions)) or 0
    rows = await db.scalars(select(AuditLog).where(*conditions).order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
                            .offset((filters.page - 1) * filters.limit).limit(filters.limit))
    return list(rows), total
