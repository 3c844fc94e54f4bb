"""The OpenAPI document's `webhooks`: the body a webhook receives for the events about received messages.

Every body is the gateway's envelope `{id, event, timestamp, session, data}`; `data` is documented per event by
`wagate.schemas.received`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema

from wagate.schemas.received import EVENT_DATA


def event_schemas() -> list[type[Schema]]:
    return sorted(set(EVENT_DATA.values()), key=lambda s: s.__name__)


def event_webhooks(name: Callable[[type[Schema]], str]) -> dict[str, Any]:
    """One webhook per event: a POST of its envelope, answered 2xx once taken (anything else is retried)."""
    hooks: dict[str, Any] = {}
    for event, schema in EVENT_DATA.items():
        body = {"type": "object", "required": ["id", "event", "timestamp", "session", "data"], "properties": {
            "id": {"type": "string"}, "event": {"const": event}, "timestamp": {"type": "integer"},
            "session": {"type": ["string", "null"]}, "data": {"$ref": f"#/components/schemas/{name(schema)}"}}}
        hooks[event] = {"post": {
            "summary": f"`{event}`", "requestBody": {"required": True, "content": {"application/json": {
                "schema": body}}},
            "responses": {"2XX": {"description": "Taken; any other answer is retried (README \"Webhooks\")"}}}}
    return hooks
