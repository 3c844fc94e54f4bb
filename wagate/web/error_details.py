"""The one shape of an error answer's `details`: a mapping of field → list of messages, or null.

Domain errors and marshmallow carry details in whatever shape was natural where they were raised (a field's one
message, marshmallow's nested dicts, a number); every answer, on every route, gives them in this one shape, so a
client reads `details[field]` as a list of messages everywhere. Nested fields are joined with dots
(`recipients.3.phone`); messages about the body as a whole go under `_schema`, as marshmallow names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

FieldMessages = dict[str, list[str]]
WHOLE_BODY = "_schema"


def field_messages(details: Any) -> FieldMessages | None:
    """`details` as field → list of messages; None when there is nothing to say."""
    out: FieldMessages = {}
    _collect(details, "", out)
    return out or None


def _collect(value: Any, field: str, out: FieldMessages) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            _collect(item, f"{field}.{key}" if field else str(key), out)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect(item, field, out)
    else:
        out.setdefault(field or WHOLE_BODY, []).append(_text(value))


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
