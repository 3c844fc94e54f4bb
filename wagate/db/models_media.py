"""Media the gateway keeps: one row per distinct content (its sha256), wherever its bytes are stored now."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from wagate.db.base import Base, Timestamps, mysql_table_options
from wagate.db.types import BigIntPK, UTCDateTime, utcnow


class Medium(Timestamps, Base):
    """A stored file. Its content hash is its key, so a file sent to many (or received twice) is kept once.

    `location` is where the bytes are now: `local` (under UPLOAD_DIR) or `s3`. With MEDIA_STORE=s3 a `local`
    row is one the store could not take yet (an outage); the worker's mover carries it over later.
    """

    __tablename__ = "media"
    __table_args__ = (
        Index("ix_media_location", "location"),  # the mover: what still waits for the object store
        Index("ix_media_last_used_at", "last_used_at"),  # retention
        mysql_table_options(),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mimetype: Mapped[str] = mapped_column(String(127))
    location: Mapped[str] = mapped_column(String(8))
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
