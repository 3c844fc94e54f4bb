"""The device registry (seed 000): a JSON file of every session's plaintext token, for apps that sync them.

The file (`REGISTRY_FILE`, default `<DATA_DIR>/device-registry.json`) is a list of
`{"token", "apiKey", "sessionId", "createdAt"}`, `token` and `apiKey` both the session's per-session token.
It is rewritten whole on every change (a session created, its token rotated, the session deleted): written
to a temporary file in the same folder with mode 600, flushed, then renamed over the old one, so a reader
sees the old list or the new one, never half a file. An exclusive lock on `<file>.lock` makes the
read-modify-write of several web processes take turns.

`GET /admin/device-registry` serves the list to a caller with `Authorization: Bearer <REGISTRY_TOKEN>` or
Basic `REGISTRY_USER:REGISTRY_PASS`; with neither configured it does not exist (404).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import structlog

from wagate.config import Settings
from wagate.db.types import utcnow
from wagate.services.identity.credentials import same

log = structlog.get_logger("wagate.registry")

Entry = dict[str, str]


class Access(Enum):
    CLOSED = "closed"  # neither REGISTRY_TOKEN nor REGISTRY_USER/PASS is set: the endpoint does not exist
    DENIED = "denied"
    GRANTED = "granted"


def check_access(settings: Settings, authorization: str | None) -> Access:
    """Whether an `Authorization` header opens the registry; every secret compared in constant time."""
    basic_configured = bool(settings.registry_user and settings.registry_pass)
    if not settings.registry_token and not basic_configured:
        return Access.CLOSED
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and settings.registry_token and value:
        return Access.GRANTED if same(value, settings.registry_token) else Access.DENIED
    if scheme.lower() == "basic" and basic_configured and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return Access.DENIED
        # Both compared, always: stopping at a wrong user name would tell how far a guess got.
        user_ok = same(user, settings.registry_user or "")
        pass_ok = same(password, settings.registry_pass or "")
        return Access.GRANTED if sep and user_ok and pass_ok else Access.DENIED
    return Access.DENIED


async def read(settings: Settings) -> list[Entry]:
    """The registry as stored; an absent file is an empty registry."""
    return await asyncio.to_thread(_read, settings.registry_file)


async def remember(settings: Settings, session_id: str, token: str, created_at: datetime | None = None) -> None:
    """Add the session's token, or replace it (a rotation keeps the session's first `createdAt`)."""

    def change(entries: list[Entry]) -> list[Entry]:
        old = next((e for e in entries if e.get("sessionId") == session_id), None)
        stamp = old.get("createdAt") if old else None
        entry = {"token": token, "apiKey": token, "sessionId": session_id,
                 "createdAt": stamp or _iso(created_at or utcnow())}
        return [e for e in entries if e.get("sessionId") != session_id] + [entry]

    await _update(settings, change, session_id, "remember")


async def forget(settings: Settings, session_id: str) -> None:
    await _update(settings, lambda entries: [e for e in entries if e.get("sessionId") != session_id],
                  session_id, "forget")


async def _update(settings: Settings, change: Callable[[list[Entry]], list[Entry]], session_id: str,
                  what: str) -> None:
    """Apply `change`; a failure is logged, never raised: the session itself is already committed."""
    try:
        await asyncio.to_thread(_rewrite, settings.registry_file, change)
    except OSError:
        log.error("device registry not updated", session_id=session_id, change=what,
                  path=str(settings.registry_file), exc_info=True)


def _rewrite(path: Path, change: Callable[[list[Entry]], list[Entry]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        entries = change(_read(path))
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entries, fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read(path: Path) -> list[Entry]:
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except ValueError:
        log.error("device registry file is not JSON; starting a new one", path=str(path))
        return []
    return [e for e in raw if isinstance(e, dict)] if isinstance(raw, list) else []


def _iso(when: datetime) -> str:
    """`2025-12-19T05:41:40.081Z`, the seed's JavaScript `toISOString()` form."""
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond // 1000:03d}Z"
