"""Where media bytes live: the store interface, its errors, the key of a medium, and the stores of a settings.

A medium's key is its sha256 (`ab/abcdef…`), so one file sent to many is stored once. Every store streams:
bytes go in from a file on local disk and come out in chunks, never a whole file in memory.

    MediaStoreError
    ├── StoreUnavailable   the store did not answer or refused for now: wait and try again
    └── MediumMissing      the store answered that it has no such key
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from wagate.config import Settings

CHUNK = 256 * 1024  # what a read hands over at a time: the most of one medium held in memory
LOCAL = "local"
S3 = "s3"


class MediaStoreError(Exception):
    """A store operation failed; `reason` says why in words safe to show (no credentials, no URLs with keys)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StoreUnavailable(MediaStoreError):
    """The store cannot be reached (or answers 5xx) right now."""


class MediumMissing(MediaStoreError):
    """The store has no object under the key: deleted by retention, or never written."""


def key_of(sha256: str) -> str:
    """The key of a medium inside a store, before any prefix: two hex digits of fan-out keep folders small."""
    return f"{sha256[:2]}/{sha256}"


class MediaStore(Protocol):
    kind: str  # LOCAL or S3: what `media.location` says

    async def put(self, key: str, path: Path, mimetype: str) -> None:
        """Store the file at `path` under `key` (the caller removes `path` afterwards if it is still there)."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The bytes under `key` in chunks of at most CHUNK; raises MediumMissing or StoreUnavailable."""

    async def delete(self, key: str) -> None:
        """Remove `key`; a key already gone is fine."""

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers now."""

    async def direct_url(self, key: str, mimetype: str, file_name: str | None) -> str | None:
        """A URL the store serves the medium at itself (public or presigned), or None to serve it through the API."""


@dataclass(frozen=True, slots=True)
class MediaStores:
    """The configured store, and the local one that always exists: older files, and a fallback while S3 is down."""

    primary: MediaStore
    local: MediaStore

    def at(self, location: str) -> MediaStore:
        return self.primary if location == self.primary.kind else self.local

    @property
    def remote(self) -> bool:
        return self.primary is not self.local


@functools.lru_cache(maxsize=8)
def media_stores(settings: Settings) -> MediaStores:
    """The stores `settings` describe, made once per settings (an S3 client's session loads the service model);
    nothing is opened until used."""
    from wagate.services.media.local_store import LocalStore  # noqa: PLC0415 - the S3 client is only loaded for S3

    local = LocalStore(settings.upload_dir / "media")
    if settings.media_store != S3:
        return MediaStores(local, local)
    from wagate.services.media.s3_store import S3Store  # noqa: PLC0415

    return MediaStores(S3Store.from_settings(settings), local)
