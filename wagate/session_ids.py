"""The one rule for session ids, checked wherever an id enters: API paths, bodies and queries, the bridge, key files.

A session id names files under AUTH_SESSIONS_DIR and is passed to neonize, so it keeps to characters that cannot
leave that folder or read as an option: no `/`, no name made of dots only (`.`, `..`), no leading `-` (`-rf`).
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, validate

from wagate.errors import Invalid

MAX_LENGTH = 64  # wa_sessions.id
PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
RULE = ("expects 1 to 64 characters among letters, digits, '_', '.' and '-', "
        "starting with a letter, a digit or '_'")


def is_valid(session_id: Any) -> bool:
    return isinstance(session_id, str) and PATTERN.fullmatch(session_id) is not None


def check(session_id: Any, field: str = "session_id") -> str:
    """The id itself, or Invalid (400) naming the rule."""
    if not is_valid(session_id):
        raise Invalid("Invalid session id", {field: [RULE]})
    return str(session_id)


class SessionIdField(validate.Regexp):
    """The marshmallow validator of a body or query field that holds a session id; a Regexp, so the OpenAPI
    document shows the pattern. `fullmatch`: `$` alone would let a trailing newline through."""

    def __init__(self) -> None:
        super().__init__(PATTERN, error=RULE)

    def __call__(self, value: str) -> str:  # type: ignore[override]  # text only: no bytes overload
        if not is_valid(value):
            raise ValidationError(RULE)
        return value
