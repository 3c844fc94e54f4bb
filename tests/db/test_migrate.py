"""Migrations: empty → head → base on SQLite and MariaDB, and the migrated schema equals the models."""

from __future__ import annotations

import io
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, pool, text
from sqlalchemy.engine import Connection

from wagate.db import Base
from wagate.db.engine import create_engine
from wagate.db.migrate import alembic_config, current, downgrade, head, upgrade


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": connection.dialect.name == "sqlite"}
    )
    return compare_metadata(context, Base.metadata)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_matches_models_and_downgrade_empties(empty_database_url: str) -> None:
    url = empty_database_url
    # Called from inside this test's running loop on purpose: the functions must cope with that.
    assert current(url) is None
    upgrade(url)
    assert current(url) == head() == "0012"

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
            assert await conn.run_sync(_schema_diff) == []

        downgrade(url)
        assert current(url) is None
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == {"alembic_version"}

        upgrade(url)  # and up again: the downgrade left nothing behind that blocks it
        assert current(url) == "0012"
    finally:
        await engine.dispose()


def test_functions_work_without_a_loop(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'wagate.db'}"
    upgrade(url)
    assert current(url) == "0012"
    downgrade(url)
    assert current(url) is None


def test_offline_mysql_sql_uses_precise_timestamps() -> None:
    """The MySQL script must say CURRENT_TIMESTAMP(6): MySQL 8 refuses a default less precise than DATETIME(6)."""
    out = io.StringIO()
    config = alembic_config("mysql+aiomysql://user:p%40ss@db.invalid/wagate")
    config.output_buffer = out
    command.upgrade(config, "head", sql=True)
    sql = out.getvalue()
    assert "created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)" in sql
    assert "CHARSET=utf8mb4" in sql
    assert "body MEDIUMTEXT" in sql


async def test_audit_rows_written_before_the_result_column_read_as_success(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url, "0001")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO audit_logs (actor_type, action) VALUES ('system', 'session.create')"))
        upgrade(url)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT result FROM audit_logs"))).scalars().all() == ["success"]
        downgrade(url, "0001")  # and the column goes again, the row with it untouched
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT action FROM audit_logs"))).scalars().all() == ["session.create"]
            assert "result" not in {c["name"] for c in await conn.run_sync(
                lambda sync: inspect(sync).get_columns("audit_logs"))}
    finally:
        await engine.dispose()


async def test_messages_received_by_lid_before_0004_move_under_the_phone_number(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url, "0003")
    engine = create_engine(url, poolclass=pool.NullPool)
    rows = [  # (direction, chat_jid, sender_jid, recipient)
        ("in", "111@lid", "6281111111111@s.whatsapp.net", "6280000000000:3@s.whatsapp.net"),  # someone, by LID
        ("in", "222@lid", "6280000000000:3@s.whatsapp.net", "6280000000000:3@s.whatsapp.net"),  # own phone: as is
        ("in", "6282222222222@s.whatsapp.net", "6282222222222@s.whatsapp.net", None),  # by number: as is
        ("in", "120363@g.us", "6283333333333@s.whatsapp.net", None),  # a group: as is
    ]
    try:
        async with engine.begin() as conn:
            for direction, chat, sender, recipient in rows:
                await conn.execute(text(
                    "INSERT INTO messages (direction, chat_jid, sender_jid, recipient, created_at, updated_at) "
                    "VALUES (:d, :c, :s, :r, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                    {"d": direction, "c": chat, "s": sender, "r": recipient})
        upgrade(url)
        async with engine.connect() as conn:
            moved = (await conn.execute(text("SELECT chat_jid, chat_lid FROM messages ORDER BY id"))).all()
        assert [tuple(r) for r in moved] == [
            ("6281111111111@s.whatsapp.net", "111@lid"), ("222@lid", None),
            ("6282222222222@s.whatsapp.net", None), ("120363@g.us", None)]
        downgrade(url, "0003")
        async with engine.connect() as conn:
            back = (await conn.execute(text("SELECT chat_jid FROM messages ORDER BY id"))).scalars().all()
        assert back == [chat for _, chat, _, _ in rows]
    finally:
        await engine.dispose()


async def test_messages_stored_before_0008_are_gathered_into_chats(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url, "0005")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO wa_sessions (id, name, token_hash) VALUES ('s1', 's1', 'h1')"))
            for session, chat, at in (("s1", "6281111111111@s.whatsapp.net", "2026-12-01 10:00:00"),
                                      ("s1", "6281111111111@s.whatsapp.net", "2026-12-02 10:00:00"),
                                      ("s1", "120363@g.us", "2026-12-01 09:00:00"),
                                      (None, "6289999999999@s.whatsapp.net", "2026-12-01 09:00:00")):  # no session
                await conn.execute(text(
                    "INSERT INTO messages (session_id, direction, chat_jid, created_at, updated_at) "
                    "VALUES (:s, 'in', :c, :at, :at)"), {"s": session, "c": chat, "at": at})
        upgrade(url)
        async with engine.connect() as conn:
            chats = (await conn.execute(text(
                "SELECT session_id, jid, last_message_id, unread_count, archived FROM chats ORDER BY jid"))).all()
        assert [tuple(r) for r in chats] == [("s1", "120363@g.us", 3, 0, 0),
                                             ("s1", "6281111111111@s.whatsapp.net", 2, 0, 0)]
    finally:
        await engine.dispose()
