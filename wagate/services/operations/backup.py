"""`wagate backup` / `wagate restore`: the database and the WhatsApp keys in one archive.

A restored gateway reconnects its sessions without new QR scans because the archive carries
`auth_sessions/` (each session's key store) beside the database. SQLite files — the gateway's own database
and neonize's per-session stores — are copied with SQLite's online backup API, so a running gateway
yields a consistent snapshot. A MySQL/MariaDB database is dumped with `mariadb-dump`/`mysqldump
--single-transaction` when the client is installed (over TLS when DATABASE_URL asks for it); otherwise the
archive says so and the README gives the command to run by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from wagate import __version__
from wagate.config import Settings
from wagate.db.tls import split_tls
from wagate.errors import Conflict, Invalid

MANIFEST = "manifest.json"
DATABASE_FILE = "database/wagate.db"
DATABASE_DUMP = "database/dump.sql"


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    database: str  # "sqlite" | "mysql-dump" | "mysql-not-included"
    session_files: int


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite file (WAL included), without stopping its writers."""
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _dump_tool() -> str | None:
    return shutil.which("mariadb-dump") or shutil.which("mysqldump")


def _is_mariadb(tool: str) -> bool:
    """mariadb-dump, or a mysqldump that is MariaDB's (Debian's is a link to it): their TLS options differ."""
    if Path(tool).name.startswith("mariadb"):
        return True
    done = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False, timeout=30)  # noqa: S603
    return "mariadb" in done.stdout.lower()


def _mysql_dump(url: str, target: Path) -> bool:
    tool = _dump_tool()
    if tool is None:
        return False
    u, tls = split_tls(url)  # the dump uses the same TLS as the gateway (DATABASE_URL's ssl_* parameters)
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MYSQL_PWD": u.password or ""}  # not on the command line, where `ps` would show it
    args = [tool, "--single-transaction", "--routines", "--default-character-set=utf8mb4",
            f"--host={u.host or '127.0.0.1'}", f"--port={u.port or 3306}", f"--user={u.username or ''}",
            *(tls.dump_options(mariadb=_is_mariadb(tool)) if tls else []), u.database or ""]
    with target.open("wb") as out:
        subprocess.run(args, stdout=out, env=env, check=True, timeout=3600)  # noqa: S603 - fixed tool, our args
    return True


def backup(settings: Settings, target: Path | None = None) -> BackupResult:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = target or settings.data_dir / "backups" / f"wagate-{stamp}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wagate-backup-") as tmp:
        root = Path(tmp)
        if settings.database_is_sqlite:
            database = "sqlite"
            _sqlite_copy(Path(make_url(settings.database_url).database or ""), root / DATABASE_FILE)
        else:
            dumped = _mysql_dump(settings.database_url, root / DATABASE_DUMP)
            database = "mysql-dump" if dumped else "mysql-not-included"
        count = 0
        sessions = Path(settings.auth_sessions_dir)
        for path in sorted(sessions.glob("*")) if sessions.is_dir() else []:
            if not _is_session_file(path) or path.name.endswith(("-wal", "-shm", "-journal")):
                continue
            copy = root / "auth_sessions" / path.name
            if _is_sqlite(path):
                _sqlite_copy(path, copy)
            else:
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, copy)
            count += 1
        manifest = {"version": __version__, "created_at": stamp, "database": database, "session_files": count}
        (root / MANIFEST).write_text(json.dumps(manifest, indent=2))
        partial = target.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as archive:
            for path in sorted(root.rglob("*")):
                archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
        partial.chmod(0o600)  # it holds the keys of every linked number
        partial.replace(target)
    return BackupResult(target, database, count)


def restore(settings: Settings, archive_path: Path, *, force: bool = False) -> dict[str, object]:
    """Put an archive's database and session keys back. Stop the gateway first: its files are replaced."""
    if not archive_path.is_file():
        raise Invalid(f"no backup archive at {archive_path}")
    with tempfile.TemporaryDirectory(prefix="wagate-restore-") as tmp:
        root = Path(tmp)
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(root, filter="data")  # the data filter refuses absolute paths and links out
        manifest = json.loads((root / MANIFEST).read_text())
        if manifest["database"] == "sqlite":
            if not settings.database_is_sqlite:
                raise Invalid("this archive holds a SQLite database, but DATABASE_URL is MySQL")
            db_path = Path(make_url(settings.database_url).database or "")
            if db_path.exists() and not force:
                raise Conflict(f"{db_path} exists; stop the gateway and pass --force to replace it")
            db_path.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(root / DATABASE_FILE, db_path)
        sessions = Path(settings.auth_sessions_dir)
        sessions.mkdir(parents=True, exist_ok=True)
        restored = 0
        for path in sorted((root / "auth_sessions").glob("*")) if (root / "auth_sessions").is_dir() else []:
            if not _is_session_file(path):  # an older archive's .gitkeep: a fresh clone has its own
                continue
            target = sessions / path.name
            if target.exists() and not force:
                raise Conflict(f"{target} exists; stop the gateway and pass --force to replace it")
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(path, target)
            restored += 1
        dump = root / DATABASE_DUMP
        manifest["session_files_restored"] = restored
        if dump.is_file():
            kept = settings.data_dir / "restore" / f"dump-{manifest['created_at']}.sql"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dump, kept)
            kept.chmod(0o600)
            manifest["mysql_dump"] = str(kept)
            manifest["mysql_load"] = mysql_load_command(settings.database_url, kept)
    return manifest


def _is_session_file(path: Path) -> bool:
    """A file of auth_sessions/ worth keeping: not a placeholder such as the repository's .gitkeep."""
    return path.is_file() and not path.name.startswith(".")


def mysql_load_command(url: str, dump: Path) -> str:
    """The command that loads `dump` into DATABASE_URL's database (which must exist, empty): its host, port, user
    and name, the password asked for (`-p`), never printed."""
    u, _ = split_tls(url)
    return (f"mariadb --host={u.host or '127.0.0.1'} --port={u.port or 3306} --user={u.username or ''} -p "
            f"{u.database or ''} < {dump}")
