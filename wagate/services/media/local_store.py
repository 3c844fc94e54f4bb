"""The local media store: files under UPLOAD_DIR/media, written whole or not at all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from wagate.services.media.store import CHUNK, LOCAL, MediumMissing, StoreUnavailable


class LocalStore:
    kind = LOCAL

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    def path_of(self, key: str) -> Path:
        return self.root / key

    async def put(self, key: str, path: Path, mimetype: str) -> None:
        await asyncio.to_thread(self._put, key, path)

    def _put(self, key: str, path: Path) -> None:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp")
        try:
            # A rename when `path` is on the same disk (the usual case: it was written under UPLOAD_DIR); else a copy.
            try:
                os.link(path, temp)
            except OSError:
                shutil.copyfile(path, temp)
            with open(temp, "rb") as fh:
                os.fsync(fh.fileno())  # the bytes are on disk before the name points at them
            os.replace(temp, target)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise StoreUnavailable(f"the media folder cannot be written: {exc.strerror or exc}") from exc

    async def read(self, key: str) -> AsyncIterator[bytes]:
        try:
            fh = await asyncio.to_thread(open, self.path_of(key), "rb")
        except FileNotFoundError as exc:
            raise MediumMissing("the media file is gone") from exc
        except OSError as exc:
            raise StoreUnavailable(f"the media file cannot be read: {exc.strerror or exc}") from exc
        async for chunk in file_chunks(fh):
            yield chunk

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.path_of(key).unlink)

    async def check(self) -> None:
        def writable() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK):
                raise StoreUnavailable(f"{self.root} is not writable")

        try:
            await asyncio.to_thread(writable)
        except OSError as exc:
            raise StoreUnavailable(f"the media folder cannot be used: {exc.strerror or exc}") from exc

    async def direct_url(self, key: str, mimetype: str, file_name: str | None) -> str | None:
        return None


async def file_chunks(source: Path | BinaryIO) -> AsyncIterator[bytes]:
    """A file's bytes in chunks of CHUNK, read off the event loop; an open file is closed at the end."""
    fh = await asyncio.to_thread(open, source, "rb") if isinstance(source, Path) else source
    try:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk
    finally:
        fh.close()
