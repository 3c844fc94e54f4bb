"""The declarative base every model shares: stable constraint names, MySQL table options, timestamp mixins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wagate.db.types import UTCDateTime, utc_now, utcnow

# Named constraints make migrations reproducible: without names MySQL and SQLite invent different ones,
# and a later migration could not drop or alter them on both engines. Indexes are named by hand in the
# models ("ix_<table>_<purpose>") because the column lists of composite ones make unreadable names.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def mysql_table_options() -> dict[str, Any]:
    """Table options for MySQL/MariaDB (ignored by SQLite).

    utf8mb4 so emoji and every script fit whatever the server's default charset is; unicode_ci because it
    exists on both MySQL 8 and MariaDB (MySQL's 0900 collations do not exist on MariaDB).
    """
    return {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CreatedAt:
    """Rows written once (attempts, audit entries, tokens)."""

    # Both a Python default (exact, with microseconds, same clock as the code) and a server default (rows
    # inserted by hand or by a later data migration still get a time).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, server_default=utc_now())


class Timestamps:
    """Rows that change; `updated_at` moves on every ORM update (bulk UPDATEs must set it themselves)."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, server_default=utc_now())
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, server_default=utc_now()
    )
