"""The table of calls by name, filled by each area's module with `@call("name")`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wagate.transport.base import WhatsAppTransport

Call = Callable[[WhatsAppTransport, str, dict[str, Any]], Awaitable[Any]]
CALLS: dict[str, Call] = {}


def call(name: str) -> Callable[[Call], Call]:
    """Register `fn` as the call `name` (one name, one function: a second registration is a programming error)."""
    def register(fn: Call) -> Call:
        if name in CALLS:
            raise RuntimeError(f"call {name!r} registered twice")
        CALLS[name] = fn
        return fn
    return register


async def run(transport: WhatsAppTransport, session_id: str, name: str, params: dict[str, Any]) -> Any:
    fn = CALLS.get(name)
    if fn is None:  # a bridge older than the web during a rolling deploy: the caller is told the bridge cannot
        raise LookupError(f"unknown call {name!r}")
    return await fn(transport, session_id, params)
