"""Column types that behave the same on MySQL/MariaDB and SQLite: UTC datetimes, string enums, big ids, long text."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine

E = TypeVar("E", bound=StrEnum)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY; MySQL needs BIGINT for tables
# that grow without bound (messages, deliveries, audit logs).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

# MySQL TEXT holds 64 KiB, less than one maximal WhatsApp text (65,536 characters, up to 4 bytes each in
# utf8mb4), so bodies, templates and webhook payloads need MEDIUMTEXT there.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

# none_as_null: a Python None is SQL NULL, not the JSON literal `null`, so `IS NULL` filters work.
JSONValue = JSON(none_as_null=True)


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC: the only kind of datetime the database layer accepts."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as naive UTC with microseconds, returned aware in UTC.

    MySQL DATETIME and SQLite keep no zone, and MySQL drops fractions unless asked (fsp=6), which would
    reorder messages sent within one second. A naive value is refused on write: it is almost always a
    `datetime.now()` in local time, and stored as UTC it would be silently hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (wagate.db.types.utcnow())")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator[E]):
    """A `StrEnum` stored as VARCHAR(length) holding the member's value.

    Writes are checked (a typo in a status is a bug); reads of an unknown value return the plain string,
    so a process one release behind keeps working while a newer one writes a new status.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        longest = max(len(member.value) for member in enum)
        if longest > length:
            raise ValueError(f"{enum.__name__} has a value of {longest} characters, longer than {length}")
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        if value is None:
            return None
        try:
            return self.enum(value)
        except ValueError:
            return value  # type: ignore[return-value]

    @property
    def python_type(self) -> type[E]:
        return self.enum


class utc_now(FunctionElement[datetime]):  # noqa: N801 - reads as a SQL function in server_default=utc_now()
    """Server-side "now" for column defaults; the engine sets MySQL sessions to UTC so both engines agree."""

    type = DateTime(timezone=True)
    inherit_cache = True
    name = "utc_now"


@compiles(utc_now)
def _utc_now_default(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"  # SQLite's CURRENT_TIMESTAMP is always UTC


@compiles(utc_now, "mysql")
@compiles(utc_now, "mariadb")
def _utc_now_mysql(element: utc_now, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP(6)"  # the precision must match DATETIME(6) on MySQL 8
