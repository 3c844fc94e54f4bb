"""Backup and restore: the database and the session keys come back, and a restored session needs no QR."""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.bridge.conftest import BRIDGE_ENV, add_session, start_bridge, until, wait_status
from tests.fixtures import make_settings
from tests.servers import MariaDBProcess
from wagate.config import Settings
from wagate.db import migrate
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import QrCode
from wagate.errors import Conflict, Invalid
from wagate.queue.jobs import enqueue_session_command
from wagate.services.operations import backup
from wagate.web.app import redis_client


def sqlite_settings(tmp_path: Path, redis_url: str, name: str) -> Settings:
    base = tmp_path / name
    return make_settings(base, DATABASE_URL=f"sqlite+aiosqlite:///{base / 'wagate.db'}", REDIS_URL=redis_url,
                         AUTH_SESSIONS_DIR=str(base / "auth_sessions"), **BRIDGE_ENV)


async def test_a_restored_gateway_reconnects_its_session_without_a_new_qr(tmp_path: Path, redis_url: str) -> None:
    old = sqlite_settings(tmp_path, redis_url, "old")
    migrate.upgrade(old.database_url)
    engine = create_engine(old)
    db = create_sessionmaker(engine)
    arq = redis_client(redis_url)
    await add_session(db, "shop")
    bridge = await start_bridge(old)
    try:
        await enqueue_session_command(arq, 1, "shop", "start")
        await wait_status(db, "shop", SessionStatus.SCAN_QR_CODE)
        await bridge.sim.scan("shop", phone="6281234567890")
        await wait_status(db, "shop", SessionStatus.WORKING)
        result = backup.backup(old, tmp_path / "wagate.tar.gz")  # taken while the gateway runs
    finally:
        await bridge.stop()
        await engine.dispose()
    assert result.database == "sqlite" and result.session_files == 1
    assert result.path.stat().st_mode & 0o777 == 0o600
    with tarfile.open(result.path) as archive:
        names = set(archive.getnames())
    assert {"manifest.json", "database/wagate.db", "auth_sessions/shop.simulator.json"} <= names

    # A new machine: empty folders, the same Redis; restore, then start only the bridge.
    await arq.flushall()
    new = sqlite_settings(tmp_path, redis_url, "new")
    manifest = backup.restore(new, result.path)
    assert manifest["session_files_restored"] == 1
    engine = create_engine(new)
    db = create_sessionmaker(engine)
    async with db() as session:
        qr_before = len(list(await session.scalars(select(QrCode))))
    bridge = await start_bridge(new)
    try:
        row = await wait_status(db, "shop", SessionStatus.WORKING)
        await until(lambda: bridge.sim.is_connected("shop"), what="reconnect")
        assert row.phone == "6281234567890"
        async with db() as session:
            assert len(list(await session.scalars(select(QrCode)))) == qr_before  # no new QR code was needed
    finally:
        await bridge.stop()
        await engine.dispose()
        await arq.aclose(close_connection_pool=True)


def test_restore_refuses_to_overwrite_without_force_and_rejects_bad_archives(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    migrate.upgrade(settings.database_url)
    archive = backup.backup(settings, tmp_path / "b.tar.gz").path
    with pytest.raises(Conflict, match="pass --force"):
        backup.restore(settings, archive)
    backup.restore(settings, archive, force=True)
    with sqlite3.connect(tmp_path / "live.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    with pytest.raises(Invalid, match="no backup archive"):
        backup.restore(settings, tmp_path / "missing.tar.gz")
    mysql = make_settings(tmp_path, DATABASE_URL="mysql+aiomysql://u:p@127.0.0.1:1/x")
    with pytest.raises(Invalid, match="SQLite database"):
        backup.restore(mysql, archive, force=True)


def test_a_mysql_database_is_dumped_and_handed_back_for_import(tmp_path: Path, mariadb_url: str,
                                                              mariadb: MariaDBProcess) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=mariadb_url)
    migrate.upgrade(settings.database_url)
    result = backup.backup(settings, tmp_path / "m.tar.gz")
    assert result.database == "mysql-dump"
    with tarfile.open(result.path) as archive:
        dump = archive.extractfile("database/dump.sql")
        assert dump is not None
        text = dump.read().decode()
    assert "CREATE TABLE `wa_sessions`" in text and "alembic_version" in text
    assert "IDENTIFIED" not in text  # a data dump, not the server's users
    manifest = backup.restore(settings, result.path)
    assert Path(str(manifest["mysql_dump"])).read_text() == text

    # Into a new, empty database as the README creates it: the printed command, with the password it asks for.
    mariadb.create_database("restored_fresh")
    try:
        fresh = make_settings(tmp_path / "fresh", DATABASE_URL=mariadb.url("restored_fresh"))
        command = str(backup.restore(fresh, result.path)["mysql_load"])
        assert f"--host={mariadb.host} --port={mariadb.port} --user={mariadb.user} -p restored_fresh < " in command
        assert mariadb.password not in command
        argv, _, dump_path = command.partition(" < ")
        with open(dump_path, "rb") as dump_file:
            loaded = subprocess.run([part for part in shlex.split(argv) if part != "-p"], stdin=dump_file,
                                    env={**os.environ, "MYSQL_PWD": mariadb.password}, capture_output=True,
                                    timeout=120, check=False)
        assert loaded.returncode == 0, loaded.stderr
        assert ("wa_sessions",) in mariadb.execute("SHOW TABLES FROM restored_fresh")
    finally:
        mariadb.drop_database("restored_fresh")


def test_a_backup_restores_into_a_fresh_clone_whose_auth_sessions_has_its_gitkeep(tmp_path: Path) -> None:
    def clone(name: str) -> Settings:
        base = tmp_path / name
        (base / "auth_sessions").mkdir(parents=True)
        (base / "auth_sessions" / ".gitkeep").touch()  # as the repository ships it
        return make_settings(base, DATABASE_URL=f"sqlite+aiosqlite:///{base / 'data' / 'wagate.db'}",
                             AUTH_SESSIONS_DIR=str(base / "auth_sessions"))

    old = clone("old")
    migrate.upgrade(old.database_url)
    (old.auth_sessions_dir / "shop.link").write_text("{}")
    result = backup.backup(old, tmp_path / "b.tar.gz")
    with tarfile.open(result.path) as archive:
        assert "auth_sessions/.gitkeep" not in archive.getnames()
    assert result.session_files == 1

    manifest = backup.restore(clone("new"), result.path)  # no --force: nothing of the new home is replaced
    assert manifest["session_files_restored"] == 1
    assert (tmp_path / "new" / "auth_sessions" / "shop.link").read_text() == "{}"
    assert (tmp_path / "new" / "data" / "wagate.db").is_file()
