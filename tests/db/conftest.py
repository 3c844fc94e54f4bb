"""Fixtures for the storage tests: an empty, never-migrated database on each engine.

Tests of the models use the suite's migrated `database_url` (tests/fixtures.py); the migration tests need a
database Alembic has never touched, on SQLite (a file in tmp_path) and on the session's MariaDB
(`mariadb_url` of tests/conftest.py: a new database, dropped after the test).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "mysql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("mariadb_url")
    return url
