"""The audit trail: one `audit_logs` row for every change made through the API, the CLI or the system."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db.enums import ActorType
from wagate.db.models_identity import AUDIT_SUCCESS, AuditLog


def record(
    db: AsyncSession,
    *,
    actor_type: ActorType,
    actor_id: str | int | None,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    tenant_id: int | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    result: str = AUDIT_SUCCESS,
) -> AuditLog:
    """Add the entry to the caller's transaction, so the change and its audit commit (or roll back) together."""
    entry = AuditLog(
        actor_type=actor_type,
        actor_id=None if actor_id is None else str(actor_id),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        tenant_id=tenant_id,
        ip=ip,
        request_id=structlog.contextvars.get_contextvars().get("request_id"),
        details=details,
        result=result,
    )
    db.add(entry)
    return entry
