"""Tenants of reselling services: their subscription, their customer API key, and the minutely expiry.

A tenant is one external `user_id` of one `source_service`. Internal keys are scoped to a service (`scope`)
or global (`scope=None`): a scoped caller only ever sees and changes its own service's tenants, and naming
another service's tenant is refused (`Forbidden`), not hidden.

Subscription time: `expires_at` is stored as an instant (UTC). A value given without a zone is wall-clock
time in `settings.timezone` (Asia/Jakarta by default), and a bare date means the end of that day there
(`2026-12-31` runs until 2027-01-01 00:00 WIB). A tenant's `status` follows its date: written with every
change, and kept true by the minutely cron (`expire_due`), which expires the due and re-activates the renewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import ActorType, Role, TenantStatus
from wagate.db.models_identity import ApiKey, Tenant
from wagate.db.models_whatsapp import WaSession
from wagate.db.types import utcnow
from wagate.errors import Conflict, Forbidden, Invalid, NotFound, OtherTenant
from wagate.services.identity import key_cache
from wagate.services.identity.credentials import NewKey, new_api_key
from wagate.services.operations import audit
from wagate.services.sessions.lifecycle import Actor

log = structlog.get_logger("wagate.tenants")
Db = async_sessionmaker[AsyncSession]

CUSTOMER_KEY_NAME = "customer"  # the tenant's x-api-key made by /internal; other keys of the tenant are left alone
CUSTOMER_KEY_ROLE = Role.OPERATOR  # sends and reads, never manages users or the install
MAX_PAGE_SIZE = 100
TENANT_FIELDS = ("source", "name", "provider", "expires_at", "max_sessions", "max_messages", "created_by")
SYSTEM = Actor(ActorType.SYSTEM, "cron:subscription_expiry")


@dataclass(frozen=True, slots=True)
class TenantView:
    tenant: Tenant
    session_count: int
    key: ApiKey | None = None


@dataclass(frozen=True, slots=True)
class TenantPage:
    items: list[TenantView]
    total: int
    page: int
    limit: int


@dataclass(frozen=True, slots=True)
class Upserted:
    view: TenantView
    created: bool
    api_key: str | None = field(default=None, repr=False)  # plaintext, only when the tenant was created


@dataclass(frozen=True, slots=True)
class Rotated:
    view: TenantView
    api_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExpiryRun:
    expired: list[int]
    reactivated: list[int]


def to_instant(value: datetime | date | None, timezone: str) -> datetime | None:
    """An aware instant: naive times are wall-clock in `timezone`, a date is the end of that day there."""
    if value is None:
        return None
    zone = ZoneInfo(timezone)
    if not isinstance(value, datetime):
        return datetime.combine(value + timedelta(days=1), time(), zone).astimezone(UTC)
    return (value.replace(tzinfo=zone) if value.tzinfo is None or value.utcoffset() is None else value).astimezone(UTC)


def status_for(expires_at: datetime | None, now: datetime) -> TenantStatus:
    return TenantStatus.EXPIRED if expires_at is not None and expires_at <= now else TenantStatus.ACTIVE


async def list_tenants(db: Db, *, scope: str | None, source: str | None = None, provider: str | None = None,
                       page: int = 1, limit: int = 20) -> TenantPage:
    """A page of tenants (newest first) with their session counts; a scoped caller sees only its service."""
    problems = {}
    if page < 1:
        problems["page"] = ["expects 1 or more"]
    if not 1 <= limit <= MAX_PAGE_SIZE:
        problems["limit"] = [f"expects 1 to {MAX_PAGE_SIZE}"]
    if problems:
        raise Invalid("Invalid query", problems)
    source = scope or source  # a scoped key's filter is forced to its own service
    conditions = []
    if source:
        conditions.append(Tenant.source_service == source)
    if provider:
        conditions.append(Tenant.provider == provider)
    counts = (select(WaSession.tenant_id, func.count().label("n")).where(WaSession.tenant_id.is_not(None))
              .group_by(WaSession.tenant_id).subquery())
    async with db() as s:
        total = await s.scalar(select(func.count()).select_from(Tenant).where(*conditions)) or 0
        rows = (await s.execute(
            select(Tenant, func.coalesce(counts.c.n, 0)).outerjoin(counts, counts.c.tenant_id == Tenant.id)
            .where(*conditions).order_by(Tenant.created_at.desc(), Tenant.id.desc())
            .offset((page - 1) * limit).limit(limit)
        )).all()
    return TenantPage([TenantView(tenant, int(n)) for tenant, n in rows], total, page, limit)


async def upsert_tenant(db: Db, redis: Any, *, scope: str | None, user_id: str, values: Mapping[str, Any],
                        timezone: str, actor: Actor) -> Upserted:
    """Create the tenant (user_id, source) with a customer API key, or update the one that exists."""
    try:
        return await _upsert_tenant(db, scope=scope, user_id=user_id, values=values, timezone=timezone, actor=actor)
    finally:
        await key_cache.announce(redis)  # after the commit: cached lookups of its keys carry the old subscription


async def _upsert_tenant(db: Db, *, scope: str | None, user_id: str, values: Mapping[str, Any], timezone: str,
                         actor: Actor) -> Upserted:
    source = _source_for_write(scope, values.get("source"))
    for attempt in (1, 2):
        try:
            async with db() as s, s.begin():
                tenant = await s.scalar(select(Tenant).where(Tenant.source_service == source,
                                                             Tenant.user_id == user_id))
                if tenant is not None:
                    _apply(s, tenant, {k: v for k, v in values.items() if k != "source"}, timezone, actor)
                    return Upserted(await _view(s, tenant), created=False)
                tenant = Tenant(user_id=user_id, source_service=source)
                _apply(s, tenant, {k: v for k, v in values.items() if k != "source"}, timezone, actor,
                       creating=True)
                s.add(tenant)
                await s.flush()
                key = _add_customer_key(s, tenant.id)
                await s.flush()
                audit.record(s, **_who(actor), action="tenant.create", target_type="tenant", target_id=tenant.id,
                             tenant_id=tenant.id, details={"user_id": user_id, "source": source,
                                                           **_jsonable(_snapshot(tenant)), "api_key": key.prefix})
                return Upserted(TenantView(tenant, 0, key.row), created=True, api_key=key.plaintext)
        except IntegrityError:
            if attempt == 2:
                raise
            # A concurrent request created the same (source, user_id) first: update it instead.
    raise AssertionError("unreachable")


async def update_tenant(db: Db, redis: Any, user_id: str, *, scope: str | None, source: str | None,
                        values: Mapping[str, Any], timezone: str, actor: Actor) -> TenantView:
    """Change a tenant's subscription; a global caller may also move it to another `source`."""
    try:
        return await _update_tenant(db, user_id, scope=scope, source=source, values=values, timezone=timezone,
                                    actor=actor)
    finally:
        await key_cache.announce(redis)  # after the commit: cached lookups of its keys carry the old subscription


async def _update_tenant(db: Db, user_id: str, *, scope: str | None, source: str | None,
                         values: Mapping[str, Any], timezone: str, actor: Actor) -> TenantView:
    new_source = values.get("source")
    if scope is not None and new_source is not None and new_source != scope:
        raise Forbidden("a scoped key cannot move a user to another service", {"source": [f"must be {scope!r}"]})
    try:
        async with db() as s, s.begin():
            tenant = await _find(s, user_id, scope=scope, source=source)
            _apply(s, tenant, values, timezone, actor)
            await s.flush()
            return await _view(s, tenant)
    except IntegrityError as exc:
        raise Conflict(f"user {user_id!r} already exists in service {new_source!r}") from exc


async def get_api_key(db: Db, user_id: str, *, scope: str | None, source: str | None) -> TenantView:
    """The tenant with its current customer key's metadata (`key` None when it has none)."""
    async with db() as s:
        return await _view(s, await _find(s, user_id, scope=scope, source=source))


async def rotate_api_key(db: Db, redis: Any, user_id: str, *, scope: str | None, source: str | None,
                         actor: Actor) -> Rotated:
    """Revoke the tenant's customer key(s) and make a new one, returned once in plaintext."""
    async with db() as s, s.begin():
        tenant = await _find(s, user_id, scope=scope, source=source)
        now = utcnow()
        revoked = await s.execute(
            update(ApiKey).where(ApiKey.tenant_id == tenant.id, ApiKey.name == CUSTOMER_KEY_NAME,
                                 ApiKey.revoked_at.is_(None))
            .values(revoked_at=now).execution_options(synchronize_session=False)
        )
        key = _add_customer_key(s, tenant.id)
        await s.flush()
        audit.record(s, **_who(actor), action="api_key.rotate", target_type="tenant", target_id=tenant.id,
                     tenant_id=tenant.id, details={"prefix": key.prefix,
                                                   "revoked": revoked.rowcount})  # type: ignore[attr-defined]
        view = await _view(s, tenant)
    await key_cache.announce(redis)  # committed: the old key is refused from the next request
    return Rotated(view, key.plaintext)


async def get_tenant(db: Db, tenant_id: int) -> TenantView:
    async with db() as s:
        tenant = await s.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("User not found")
        return await _view(s, tenant)


async def set_session_options(db: Db, session_id: str, options: Mapping[str, Any], *, tenant_id: int | None,
                              actor: Actor) -> WaSession:
    """Keep seed 002's provider options (`expiration_sec`, `history`) in the session's `settings`."""
    async with db() as s, s.begin():
        row = await s.get(WaSession, session_id)
        if row is None:
            raise NotFound(f"session {session_id!r} not found")
        if tenant_id is not None and row.tenant_id != tenant_id:
            raise OtherTenant(f"session {session_id!r} not found", f"session {session_id!r} belongs to another tenant")
        merged = {**(row.settings or {}), **options}
        if merged != row.settings:
            row.settings = merged
            audit.record(s, **_who(actor), action="session.update", target_type="session", target_id=session_id,
                         tenant_id=row.tenant_id, details={"changed": dict(options)})
    return row


async def expire_due(db: Db, redis: Any, timezone: str, now: datetime | None = None) -> ExpiryRun:
    """Mark tenants whose `expires_at` has passed as expired and renewed ones active again; each one audited."""
    now = now or datetime.now(ZoneInfo(timezone))  # an aware instant compares rightly with the stored UTC ones
    async with db() as s, s.begin():
        due = list(await s.scalars(
            select(Tenant).where(Tenant.status == TenantStatus.ACTIVE, Tenant.expires_at <= now)
            .with_for_update()
        ))
        renewed = list(await s.scalars(
            select(Tenant).where(Tenant.status == TenantStatus.EXPIRED,
                                 or_(Tenant.expires_at.is_(None), Tenant.expires_at > now))
            .with_for_update()
        ))
        for tenant, status, action in [*((t, TenantStatus.EXPIRED, "tenant.expire") for t in due),
                                       *((t, TenantStatus.ACTIVE, "tenant.reactivate") for t in renewed)]:
            tenant.status = status
            audit.record(s, **_who(SYSTEM), action=action, target_type="tenant", target_id=tenant.id,
                         tenant_id=tenant.id, details={"expires_at": _iso(tenant.expires_at),
                                                       "checked_at": now.isoformat()})
    run = ExpiryRun([t.id for t in due], [t.id for t in renewed])
    if due or renewed:
        await key_cache.announce(redis)
        log.info("subscriptions checked", expired=run.expired, reactivated=run.reactivated)
    return run


# --- helpers ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _MadeKey:
    row: ApiKey
    plaintext: str = field(repr=False)

    @property
    def prefix(self) -> str:
        return self.row.prefix


def _add_customer_key(s: AsyncSession, tenant_id: int) -> _MadeKey:
    made: NewKey = new_api_key()
    row = ApiKey(name=CUSTOMER_KEY_NAME, key_hash=made.hash, prefix=made.prefix, role=CUSTOMER_KEY_ROLE,
                 tenant_id=tenant_id)
    s.add(row)
    return _MadeKey(row, made.plaintext)


def _source_for_write(scope: str | None, source: str | None) -> str:
    if scope is None:
        if not source:
            raise Invalid("Invalid user", {"source": ["is required with a global key"]})
        return source
    if source is not None and source != scope:
        raise Forbidden(f"this key is scoped to service {scope!r}", {"source": [f"must be {scope!r}"]})
    return scope


async def _find(s: AsyncSession, user_id: str, *, scope: str | None, source: str | None) -> Tenant:
    if scope is not None and source is not None and source != scope:
        raise Forbidden(f"this key is scoped to service {scope!r}")
    wanted = scope or source
    query = select(Tenant).where(Tenant.user_id == user_id)
    matches = list(await s.scalars(query.where(Tenant.source_service == wanted) if wanted else query))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise Conflict(f"user {user_id!r} exists in several services; name one with ?source=",
                       {"sources": sorted(t.source_service for t in matches)})
    if scope is not None and await s.scalar(select(Tenant.id).where(Tenant.user_id == user_id).limit(1)):
        raise OtherTenant(f"user {user_id!r} not found", f"user {user_id!r} belongs to another service")
    raise NotFound(f"user {user_id!r} not found")


def _apply(s: AsyncSession, tenant: Tenant, values: Mapping[str, Any], timezone: str, actor: Actor,
           *, creating: bool = False) -> None:
    """Set the given fields and the status their date implies; audit what changed (not on creation)."""
    unknown = [key for key in values if key not in TENANT_FIELDS]
    if unknown:
        raise Invalid("Invalid user", {key: ["is not a user field"] for key in unknown})
    wanted = dict(values)
    if "source" in wanted:
        wanted["source_service"] = wanted.pop("source")
    if "expires_at" in wanted:
        wanted["expires_at"] = to_instant(wanted["expires_at"], timezone)
    before = _snapshot(tenant) if not creating else {}
    for key, value in wanted.items():
        setattr(tenant, key, value)
    tenant.status = status_for(tenant.expires_at, utcnow())
    if creating:
        return
    after = _snapshot(tenant)
    changed = {key: after[key] for key in after if after[key] != before.get(key)}
    if changed:
        audit.record(s, **_who(actor), action="tenant.update", target_type="tenant", target_id=tenant.id,
                     tenant_id=tenant.id, details={"changed": _jsonable(changed)})


def _snapshot(tenant: Tenant) -> dict[str, Any]:
    return {"source_service": tenant.source_service, "name": tenant.name, "provider": tenant.provider,
            "expires_at": tenant.expires_at, "max_sessions": tenant.max_sessions,
            "max_messages": tenant.max_messages, "created_by": tenant.created_by, "status": tenant.status}


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _iso(value) if isinstance(value, datetime) else value for key, value in values.items()}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def _view(s: AsyncSession, tenant: Tenant) -> TenantView:
    count = await s.scalar(select(func.count()).select_from(WaSession).where(WaSession.tenant_id == tenant.id))
    key = await s.scalar(
        select(ApiKey).where(ApiKey.tenant_id == tenant.id, ApiKey.name == CUSTOMER_KEY_NAME,
                             ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc()).limit(1)
    )
    return TenantView(tenant, count or 0, key)


def _who(actor: Actor) -> dict[str, Any]:
    return {"actor_type": actor.type, "actor_id": actor.id, "ip": actor.ip}
