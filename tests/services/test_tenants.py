"""Tenant service: upsert with a one-time customer key, scoped lookups, updates, rotation, expiry by date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import ActorType, Role, TenantStatus
from wagate.db.models_identity import ApiKey, AuditLog, Tenant
from wagate.errors import Conflict, Forbidden, Invalid, NotFound, OtherTenant
from wagate.services.identity import tenants
from wagate.services.identity.credentials import hash_token
from wagate.services.sessions.lifecycle import Actor

Db = async_sessionmaker[AsyncSession]
WIB = "Asia/Jakarta"
SVC = Actor(ActorType.INTERNAL, "svc-a")


async def upsert(db: Db, user_id: str = "usr_1", scope: str | None = "svc-a", **values: object) -> tenants.Upserted:
    return await tenants.upsert_tenant(db, None, scope=scope, user_id=user_id, values=values, timezone=WIB, actor=SVC)


def test_naive_times_are_wall_clock_in_the_zone_and_dates_run_to_the_end_of_the_day() -> None:
    assert tenants.to_instant(datetime(2026, 1, 1, 7, 0), WIB) == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert tenants.to_instant(date(2026, 12, 31), WIB) == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    assert tenants.to_instant(aware, WIB) == aware
    assert tenants.to_instant(None, WIB) is None


async def test_created_once_with_a_hashed_operator_key_then_updated_in_place(db: Db) -> None:
    first = await upsert(db, expires_at=date(2030, 1, 1), max_sessions=2, provider="genfity-wa")
    assert first.created and first.api_key and first.api_key.startswith("wag_")
    again = await upsert(db, max_sessions=5)
    assert not again.created and again.api_key is None
    assert again.view.tenant.id == first.view.tenant.id
    assert again.view.tenant.max_sessions == 5 and again.view.tenant.provider == "genfity-wa"  # untouched field kept
    async with db() as s:
        [key] = (await s.scalars(select(ApiKey))).all()
        actions = [a.action for a in await s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert key.key_hash == hash_token(first.api_key) and key.role == Role.OPERATOR
    assert key.tenant_id == first.view.tenant.id and key.prefix == first.api_key[:12]
    assert actions == ["tenant.create", "tenant.update"]


async def test_scoped_callers_stay_in_their_service(db: Db) -> None:
    await upsert(db, "usr_1", scope="svc-a")
    with pytest.raises(Forbidden):
        await upsert(db, "usr_2", scope="svc-a", source="svc-b")
    with pytest.raises(OtherTenant):  # exists, but in another service: answered as missing
        await tenants.get_api_key(db, "usr_1", scope="svc-b", source=None)
    with pytest.raises(NotFound):
        await tenants.get_api_key(db, "nobody", scope="svc-b", source=None)
    with pytest.raises(Invalid):  # a global key must say which service
        await upsert(db, "usr_3", scope=None)
    page = await tenants.list_tenants(db, scope="svc-b", source="svc-a")
    assert page.total == 0  # the scope wins over the filter


async def test_a_global_caller_must_name_the_service_of_an_ambiguous_user(db: Db) -> None:
    await upsert(db, "usr_1", scope="svc-a")
    await upsert(db, "usr_1", scope="svc-b")
    with pytest.raises(Conflict):
        await tenants.update_tenant(db, None, "usr_1", scope=None, source=None, values={"max_sessions": 1},
                                    timezone=WIB, actor=SVC)
    view = await tenants.update_tenant(db, None, "usr_1", scope=None, source="svc-b", values={"max_sessions": 1},
                                       timezone=WIB, actor=SVC)
    assert view.tenant.source_service == "svc-b" and view.tenant.max_sessions == 1
    with pytest.raises(Conflict):  # moving onto a (service, user) that exists
        await tenants.update_tenant(db, None, "usr_1", scope=None, source="svc-b", values={"source": "svc-a"},
                                    timezone=WIB, actor=SVC)


async def test_rotation_revokes_the_old_key(db: Db) -> None:
    first = await upsert(db)
    rotated = await tenants.rotate_api_key(db, None, "usr_1", scope="svc-a", source=None, actor=SVC)
    assert rotated.api_key != first.api_key
    assert rotated.view.key is not None and rotated.view.key.key_hash == hash_token(rotated.api_key)
    async with db() as s:
        keys = {k.key_hash: k for k in await s.scalars(select(ApiKey))}
    assert keys[hash_token(first.api_key)].revoked_at is not None  # type: ignore[arg-type]
    assert keys[hash_token(rotated.api_key)].revoked_at is None


async def test_status_follows_the_date_on_write(db: Db) -> None:
    past = datetime.now(UTC) - timedelta(minutes=1)
    made = await upsert(db, expires_at=past)
    assert made.view.tenant.status == TenantStatus.EXPIRED
    renewed = await tenants.update_tenant(db, None, "usr_1", scope="svc-a", source=None,
                                          values={"expires_at": past + timedelta(days=30)}, timezone=WIB, actor=SVC)
    assert renewed.tenant.status == TenantStatus.ACTIVE


async def test_expire_due_compares_instants_and_reactivates_the_renewed(db: Db) -> None:
    wib_now = datetime.now(ZoneInfo(WIB)).replace(tzinfo=None)
    # Wall-clock WIB times: read as UTC they would be 7 hours off and decide the other way.
    await upsert(db, "due", expires_at=wib_now + timedelta(minutes=1))
    await upsert(db, "later", expires_at=wib_now + timedelta(hours=1))
    await upsert(db, "forever")
    async with db() as s, s.begin():
        tenant = await s.scalar(select(Tenant).where(Tenant.user_id == "later"))
        assert tenant is not None
        tenant.status = TenantStatus.EXPIRED  # as if renewed behind the cron's back
    two_minutes_later = datetime.now(ZoneInfo(WIB)) + timedelta(minutes=2)
    run = await tenants.expire_due(db, None, WIB, now=two_minutes_later)
    async with db() as s:
        status = {t.user_id: t.status for t in await s.scalars(select(Tenant))}
        actions = sorted(a.action for a in await s.scalars(select(AuditLog).where(AuditLog.actor_type == "system")))
    assert status == {"due": TenantStatus.EXPIRED, "later": TenantStatus.ACTIVE, "forever": TenantStatus.ACTIVE}
    assert len(run.expired) == 1 and len(run.reactivated) == 1
    assert actions == ["tenant.expire", "tenant.reactivate"]
    again = await tenants.expire_due(db, None, WIB, now=two_minutes_later)
    assert again.expired == [] and again.reactivated == []  # idempotent
