"""The one refusal of an expired subscription, wherever it is met: a /v1 key, a send, a broadcast, a new session.

The message names the date and what to do, the same on every route; `details.subscription` repeats the date.
"""

from __future__ import annotations

from datetime import datetime

from wagate.db.enums import TenantStatus
from wagate.db.types import utcnow
from wagate.errors import Forbidden


def is_expired(status: TenantStatus | str | None, expires_at: datetime | None, now: datetime | None = None) -> bool:
    """The minutely cron marks tenants expired; until it has run, the date alone decides."""
    return status == TenantStatus.EXPIRED or (expires_at is not None and expires_at <= (now or utcnow()))


def expired(expires_at: datetime | None) -> Forbidden:
    when = f" on {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at is not None else ""
    return Forbidden(f"Subscription expired{when}: renew it to go on using the gateway",
                     {"subscription": [f"expired{when}" if when else "expired"]})


def check(status: TenantStatus | str | None, expires_at: datetime | None, now: datetime | None = None) -> None:
    """Forbidden (403) when the subscription has expired."""
    if is_expired(status, expires_at, now):
        raise expired(expires_at)
