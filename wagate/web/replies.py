"""The pieces every API handler shares: the `{success, message, data}` answer, the body, the caller as an actor."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from marshmallow import Schema, ValidationError
from marshmallow.utils import missing

from wagate.db.enums import SessionStatus
from wagate.errors import Invalid
from wagate.services.identity.principal import Principal
from wagate.services.sessions import lifecycle
from wagate.services.sessions.lifecycle import Actor
from wagate.web.auth import PRINCIPAL
from wagate.web.keys import DB
from wagate.web.middlewares import CLIENT_IP

SchemaT = TypeVar("SchemaT", bound=Schema)


def ok(message: str, data: Any = None, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"success": True, "message": message, "data": data}, status=status, headers=headers)


def caller(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def tenant_of(request: web.Request) -> int | None:
    """The tenant the caller is bound to; None for an install-wide caller, who sees every tenant."""
    return request[PRINCIPAL].tenant_id


def actor(request: web.Request) -> Actor:
    principal = request[PRINCIPAL]
    return Actor(principal.actor_type, principal.actor_id, request.get(CLIENT_IP))


@contextlib.contextmanager
def multipart_parsing() -> Iterator[None]:
    """Around reading a multipart body: one that does not parse (a part's headers broken, a boundary missing) is
    a malformed body (400), not a server error."""
    try:
        yield
    except (HttpProcessingError, ValueError) as exc:
        reason = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
        raise Invalid("Malformed multipart body", {"_schema": [reason.strip()[:200] or type(exc).__name__]}) from exc


async def json_body(request: web.Request, *, empty: Any = None) -> Any:
    """The JSON body; `empty` stands in for no body at all (None: a body is required)."""
    if not request.body_exists:
        if empty is None:
            raise ValidationError({"_schema": ["expects a JSON object"]})
        return empty
    return await request.json()  # bytes that are not UTF-8: a 400 from the errors middleware


@functools.cache
def schema_of(schema: type[SchemaT]) -> SchemaT:
    """One shared instance per schema class: building one deep-copies its fields (about 0.3 ms), while a
    load or dump keeps no state between calls and never awaits, so handlers can share it."""
    return schema()


@functools.cache
def _dumper(schema: type[Schema]) -> Callable[[Any], dict[str, Any] | None]:
    """`schema_of(schema).dump` for one object, without marshmallow's per-field lookups (half a send's dump):
    each field's own `_serialize` on the attribute read straight off the object, so every value is formatted
    exactly as `dump` formats it. None when the object needs more (a mapping, an attribute it lacks): `dump`
    then does it. A schema with dump hooks or dotted attributes always goes through `dump`."""
    instance = schema_of(schema)
    plan = [(field.data_key or name, field, field.attribute or name, field._CHECK_ATTRIBUTE)
            for name, field in instance.dump_fields.items()]
    if any(instance._hooks.values()) or any("." in attribute for _, _, attribute, _ in plan):
        return lambda obj: None

    def dump(obj: Any) -> dict[str, Any] | None:
        if hasattr(type(obj), "__getitem__"):
            return None
        out: dict[str, Any] = {}
        for key, field, attribute, reads in plan:
            value = getattr(obj, attribute, missing) if reads else None
            if value is missing:
                return None
            value = field._serialize(value, attribute, obj)
            if value is not missing:
                out[key] = value
        return out

    return dump


def dump(schema: type[Schema], obj: Any) -> dict[str, Any]:
    """`schema_of(schema).dump(obj)` for one object (not a list), faster; the same answer."""
    dumped = _dumper(schema)(obj)
    if dumped is None:
        dumped = schema_of(schema).dump(obj)
    return dumped


def load(schema: type[Schema], data: Any) -> dict[str, Any]:
    """Load input; a JSON value that is not an object fails like any other bad body (400 with details)."""
    if not isinstance(data, dict):
        raise ValidationError({"_schema": ["expects a JSON object"]})
    loaded: dict[str, Any] = schema_of(schema).load(data)
    return loaded


def query(request: web.Request, schema: type[Schema]) -> dict[str, Any]:
    """Load the query string; a repeated parameter is refused rather than silently taking one value."""
    params = request.rel_url.query
    repeated = sorted({key for key in params if len(params.getall(key)) > 1})
    if repeated:
        raise ValidationError({key: ["is given more than once"] for key in repeated})
    return load(schema, dict(params))


async def chosen_session(request: web.Request, session_id: str | None, *, status: SessionStatus | None = None,
                         purpose: str = "") -> str:
    """The session the caller named, or the only one they can see (with `status`, the only one in it).

    WA-Gate v2 drove one number, so its clients never name a session; they keep working while the
    install has exactly one candidate, and are asked to name one as soon as there are several.
    """
    if session_id is not None:
        return session_id
    rows = await lifecycle.list_sessions(request.app[DB], tenant_id=tenant_of(request), status=status)
    if len(rows) == 1:
        return rows[0].id
    which = f"{status} " if status is not None else ""
    found = f"{len(rows)} {which}sessions are visible" if rows else f"no {which}session is visible"
    raise Invalid(f"Name the session{purpose}: {found}",
                  {"session": [f"is required when not exactly one {which}session is visible"],
                   "sessions": [row.id for row in rows[:20]]})
