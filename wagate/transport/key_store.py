"""The files that hold one session's WhatsApp keys under AUTH_SESSIONS_DIR, named exactly.

Both transports name their files here and the bridge removes a deleted session's files from the same list.
A name is never matched by pattern: session ids may contain dots, so `shop.*` would also take the keys of the
session `shop.main` (another number, possibly another tenant's).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from wagate import session_ids

NEONIZE_SUFFIX = ".sqlite3"  # neonize's (whatsmeow's) SQLite store of the device keys
# SQLite writes these beside a database while it is open or after a crash; they hold keys too.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
SIMULATOR_SUFFIX = ".simulator.json"  # the simulator's record of the account a session is linked to


def neonize_store(folder: Path, session_id: str) -> Path:
    return folder / f"{session_ids.check(session_id)}{NEONIZE_SUFFIX}"


def simulator_link(folder: Path, session_id: str) -> Path:
    return folder / f"{session_ids.check(session_id)}{SIMULATOR_SUFFIX}"


def session_files(folder: Path, session_id: str) -> list[Path]:
    """Every file a session's keys can be in, whether it exists or not."""
    store = neonize_store(folder, session_id)
    return [store, *(store.with_name(store.name + c) for c in SQLITE_COMPANIONS), simulator_link(folder, session_id)]


def remove(folder: Path, session_id: str) -> list[Path]:
    """Delete the session's key files (and no other); the ones that were there."""
    removed = []
    for path in session_files(folder, session_id):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
