"""Users, API keys, tenants and sessions arranged straight in the database, and a client for a chosen Settings."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import bcrypt
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures import make_settings
from wagate.config import Settings
from wagate.db.enums import Role, TenantStatus
from wagate.db.models_identity import ApiKey, Tenant, User
from wagate.db.models_whatsapp import WaSession
from wagate.logging import configure_logging
from wagate.services.identity.credentials import hash_token, new_api_key
from wagate.web.app import create_app

PASSWORD = "correct horse battery"


@functools.cache
def password_hash(password: str) -> str:
    """bcrypt at cost 4: the tests check logins, not the cost (the service itself hashes at 12)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


async def add_user(db: async_sessionmaker[AsyncSession], username: str, role: Role = Role.ADMIN, *,
                   password: str = PASSWORD, tenant_id: int | None = None, is_active: bool = True) -> int:
    async with db() as session:
        user = User(username=username, password_hash=password_hash(password), role=role, tenant_id=tenant_id,
                    is_active=is_active)
        session.add(user)
        await session.commit()
        return user.id


async def add_key(db: async_sessionmaker[AsyncSession], role: Role = Role.USER, *, tenant_id: int | None = None,
                  revoked_at: datetime | None = None, expires_at: datetime | None = None) -> tuple[int, str]:
    key = new_api_key()
    async with db() as session:
        row = ApiKey(name=f"{role} key", key_hash=key.hash, prefix=key.prefix, role=role, tenant_id=tenant_id,
                     revoked_at=revoked_at, expires_at=expires_at)
        session.add(row)
        await session.commit()
        return row.id, key.plaintext


async def add_tenant(db: async_sessionmaker[AsyncSession], user_id: str = "usr_001", *,
                     status: TenantStatus = TenantStatus.ACTIVE, expires_at: datetime | None = None) -> int:
    async with db() as session:
        tenant = Tenant(user_id=user_id, source_service="genfity-app", status=status, expires_at=expires_at)
        session.add(tenant)
        await session.commit()
        return tenant.id


async def add_session(db: async_sessionmaker[AsyncSession], session_id: str, token: str,
                      tenant_id: int | None = None) -> None:
    async with db() as session:
        session.add(WaSession(id=session_id, tenant_id=tenant_id, token_hash=hash_token(token)))
        await session.commit()


async def login(client: TestClient, username: str, password: str = PASSWORD, **headers: str) -> dict[str, Any]:
    response = await client.post("/api/auth/login", json={"username": username, "password": password},
                                 headers=headers)
    assert response.status == 200, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ClientFactory = Callable[..., Awaitable[TestClient]]


def client_factory(aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str,
                   extra_routes: web.RouteTableDef | None = None) -> ClientFactory:
    """Clients of apps built from test Settings plus `environ` overrides (several may share one Valkey)."""

    async def make(logs: str = "logs", **environ: str) -> TestClient:
        settings: Settings = make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url,
                                           LOG_DIR=str(tmp_path / logs), **environ)
        configure_logging(settings, "web")
        app = create_app(settings)
        if extra_routes is not None:
            app.add_routes(extra_routes)
        client: TestClient = await aiohttp_client(app)
        return client

    return make


def log_text(tmp_path: Path) -> str:
    """Every log file the test's apps wrote."""
    return "\n".join(p.read_text() for p in tmp_path.glob("logs*/*.log"))
