"""The OpenAPI lines of /api/exports (wagate.web.routes.exports), added to `openapi.OPERATIONS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wagate.schemas import exports as ex


def export_operations(op: Callable[..., Any]) -> list[Any]:
    """The lines, made with `openapi.Op` (passed in: this module is imported by that one)."""

    def line(method: str, path: str, summary: str, **kwargs: Any) -> Any:
        return op(method, path, summary, "exports", permission="webhooks", **kwargs)

    return [
        line("GET", "/api/exports", "List event exports (NATS JetStream, RabbitMQ) with their status",
             data=ex.ExportSchema, many=True, errors=(401, 403)),
        line("POST", "/api/exports", "Export events to a broker", body=ex.ExportCreateSchema, data=ex.ExportSchema,
             status=201, errors=(400, 401, 403)),
        line("GET", "/api/exports/{export_id}", "One event export with its status", data=ex.ExportSchema),
        line("PUT", "/api/exports/{export_id}", "Change an event export", body=ex.ExportUpdateSchema,
             data=ex.ExportSchema),
        line("DELETE", "/api/exports/{export_id}", "Delete an event export (events not yet published are dropped)",
             no_data=True),
    ]
