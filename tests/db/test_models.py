"""Model round trips and the constraints and ON DELETE rules of the migrated schema, on SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError, InvalidRequestError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db import (
    ApiKey,
    Broadcast,
    BroadcastRecipient,
    Contact,
    Message,
    QrCode,
    Tenant,
    User,
    WaSession,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import Direction, MessageStatus, Role, SessionStatus, TenantStatus
from wagate.db.types import utcnow


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def _tenant_with_session(db: AsyncSession, session_id: str = "marketing-1") -> tuple[Tenant, WaSession]:
    tenant = Tenant(user_id="usr_001", source_service="genfity-app", max_sessions=3)
    db.add(tenant)
    await db.flush()
    session = WaSession(id=session_id, tenant_id=tenant.id, token_hash=f"hash-{session_id}")
    db.add(session)
    await db.flush()
    return tenant, session


async def test_round_trip(sessions: async_sessionmaker[AsyncSession]) -> None:
    jakarta = timezone(timedelta(hours=7))
    expires = datetime(2026, 12, 31, 23, 59, 59, 123456, tzinfo=jakarta)
    body = "Halo 👋 " * 9000  # past MySQL TEXT's 64 KiB: needs MEDIUMTEXT
    async with sessions() as db:
        tenant, session = await _tenant_with_session(db)
        tenant.expires_at = expires
        db.add(User(username="admin", password_hash="$2b$12$x", role=Role.ADMIN, tenant_id=tenant.id))
        session.webhook_events = ["message.received", "message.sent"]
        session.settings = {"history": 0, "expiration_sec": 0}
        message = Message(session_id=session.id, direction=Direction.OUTBOUND, recipient="6281234567890",
                          body=body, idempotency_key="k-1")
        db.add(message)
        await db.commit()
        message_id = message.id

    async with sessions() as db:
        tenant = (await db.execute(select(Tenant))).scalar_one()
        assert tenant.expires_at == expires and tenant.expires_at.tzinfo is UTC  # same instant, microseconds kept
        assert tenant.status is TenantStatus.ACTIVE and tenant.messages_sent == 0
        user = (await db.execute(select(User))).scalar_one()
        assert user.role is Role.ADMIN and user.is_active is True and user.failed_logins == 0
        session = await db.get_one(WaSession, "marketing-1")
        assert session.status is SessionStatus.STOPPED
        assert session.webhook_events == ["message.received", "message.sent"]
        assert session.settings == {"history": 0, "expiration_sec": 0}
        assert session.auto_read_enabled is False and session.messages_sent == 0
        message = await db.get_one(Message, message_id)
        assert message.body == body and message.status is MessageStatus.QUEUED
        assert message.created_at.tzinfo is UTC and abs(utcnow() - message.created_at) < timedelta(minutes=1)
        with pytest.raises(InvalidRequestError):  # lazy="raise": relationships are loaded on purpose or not at all
            _ = tenant.sessions


async def test_server_defaults_are_utc(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A row inserted without the ORM gets its defaults from the database, and its times in UTC."""
    async with sessions() as db:
        await db.execute(text("INSERT INTO tenants (user_id, source_service) VALUES ('u1', 'svc')"))
        await db.commit()
    async with sessions() as db:
        tenant = (await db.execute(select(Tenant))).scalar_one()
        assert tenant.status is TenantStatus.ACTIVE and tenant.messages_sent == 0
        assert abs(utcnow() - tenant.created_at) < timedelta(minutes=1)


async def test_values_checked_on_write(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as db:
        db.add(Tenant(user_id="u1", source_service="svc", expires_at=datetime(2026, 1, 1)))  # naive
        with pytest.raises(StatementError, match="naive datetime"):
            await db.flush()
    async with sessions() as db:
        db.add(Tenant(user_id="u1", source_service="svc", status="paused"))
        with pytest.raises(StatementError, match="'paused' is not a valid TenantStatus"):
            await db.flush()


async def test_idempotency_key_unique_per_session(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as db:
        _, one = await _tenant_with_session(db, "one")
        db.add(WaSession(id="two", token_hash="hash-two"))
        for session_id, key in [("one", "k"), ("two", "k"), ("one", None), ("one", None), ("two", None)]:
            db.add(Message(session_id=session_id, direction=Direction.OUTBOUND, idempotency_key=key))
        await db.commit()
        db.add(Message(session_id="one", direction=Direction.OUTBOUND, idempotency_key="k"))
        with pytest.raises(IntegrityError):
            await db.commit()
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Message)) == 5


async def test_unique_constraints(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as db:
        db.add_all([Tenant(user_id="u1", source_service="a"), Tenant(user_id="u1", source_service="b")])
        await db.commit()  # the same external user id under two services is two tenants
        db.add(Tenant(user_id="u1", source_service="a"))
        with pytest.raises(IntegrityError):
            await db.commit()


async def test_deleting_a_session(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Contacts, QR history and the session's webhooks go; messages and broadcasts stay, without the session."""
    async with sessions() as db:
        _, session = await _tenant_with_session(db)
        db.add(Contact(session_id=session.id, jid="6281@s.whatsapp.net"))
        db.add(QrCode(session_id=session.id, code_hash="h"))
        broadcast = Broadcast(session_id=session.id, name="promo", template="Hi {{name}}")
        webhook = Webhook(session_id=session.id, url="https://example.com/hook", events="*")
        db.add_all([broadcast, webhook])
        await db.flush()
        message = Message(session_id=session.id, direction=Direction.OUTBOUND, broadcast_id=broadcast.id)
        delivery = WebhookDelivery(webhook_id=webhook.id, event_id="evt_1", event="message.sent", payload="{}")
        db.add_all([message, delivery])
        await db.flush()
        db.add(BroadcastRecipient(broadcast_id=broadcast.id, position=0, phone="6281", message_id=message.id))
        db.add(WebhookAttempt(delivery_id=delivery.id, attempt=1, status_code=500, duration_ms=12))
        await db.commit()

        await db.delete(session)  # through the ORM: passive_deletes leaves the children to the database
        await db.commit()

    async with sessions() as db:
        for model in (Contact, QrCode, Webhook, WebhookDelivery, WebhookAttempt):
            assert await db.scalar(select(func.count()).select_from(model)) == 0, model.__name__
        message = (await db.execute(select(Message))).scalar_one()
        assert message.session_id is None and message.broadcast_id is not None
        broadcast = (await db.execute(select(Broadcast))).scalar_one()
        assert broadcast.session_id is None
        assert await db.scalar(select(BroadcastRecipient.message_id)) == message.id

        await db.execute(delete(Broadcast))
        await db.commit()
        assert await db.scalar(select(func.count()).select_from(BroadcastRecipient)) == 0
        assert await db.scalar(select(Message.broadcast_id)) is None


async def test_deleting_a_tenant(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Refused while it has sessions; then its users and keys go with it."""
    async with sessions() as db:
        tenant, _ = await _tenant_with_session(db)
        user = User(username="op", password_hash="x", tenant_id=tenant.id)
        db.add(user)
        await db.flush()
        db.add(ApiKey(name="k", key_hash="a" * 64, prefix="wag_a", tenant_id=tenant.id, user_id=user.id))
        await db.commit()
        tenant_id = tenant.id

    async with sessions() as db:
        with pytest.raises(IntegrityError):
            await db.execute(delete(Tenant).where(Tenant.id == tenant_id))
            await db.commit()
    async with sessions() as db:
        await db.execute(delete(WaSession))
        await db.execute(delete(Tenant).where(Tenant.id == tenant_id))
        await db.commit()
        for model in (User, ApiKey):
            assert await db.scalar(select(func.count()).select_from(model)) == 0, model.__name__
