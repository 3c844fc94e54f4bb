"""`GET /api/audit-logs`: the audit trail for admins (`system`), newest first, with filters and pages."""

from __future__ import annotations

from aiohttp import web

from wagate.schemas.audit import AuditQuerySchema
from wagate.schemas.messages import resolve_bound
from wagate.services.identity.principal import Permission
from wagate.services.operations import audit_log
from wagate.web.auth import rate_limited, require
from wagate.web.keys import DB, SETTINGS
from wagate.web.replies import ok, query, tenant_of

routes = web.RouteTableDef()


@routes.get("/api/audit-logs")
@require(Permission.SYSTEM)
@rate_limited("dashboard")
async def list_audit_logs(request: web.Request) -> web.Response:
    values = query(request, AuditQuerySchema)
    zone = request.app[SETTINGS].timezone
    filters = audit_log.AuditFilters(
        action=values["action"], actor_type=values["actor_type"], actor_id=values["actor_id"],
        target_type=values["target_type"], target_id=values["target_id"],
        result=values["result"],
        since=resolve_bound(values["from_"], zone, end=False, name="from"),
        until=resolve_bound(values["to"], zone, end=True, name="to"), page=values["page"], limit=values["limit"],
    )
    async with request.app[DB]() as db:
        entries, total = await audit_log.list_entries(db, filters, tenant_of(request))
    return ok("Audit log", {"items": [audit_log.as_dict(e) for e in entries], "total": total,
                            "page": filters.page, "limit": filters.limit})
