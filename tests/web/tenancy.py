"""Arranging tenants, customer keys and sessions for the reseller, customer, credentials and /wa route tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures import make_settings
from wagate.config import Settings
from wagate.db.enums import ActorType, SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.services.identity import tenants
from wagate.services.identity.credentials import hash_token, new_token
from wagate.services.sessions.lifecycle import Actor

Db = async_sessionmaker[AsyncSession]
SCOPED_A = "key-of-service-a-0123456789"
SCOPED_B = "key-of-service-b-0123456789"
GLOBAL = "global-key-0123456789abcdef"
INTERNAL_API_KEYS = f"svc-a:{SCOPED_A},svc-b:{SCOPED_B},{GLOBAL}"
A = {"x-internal-api-key": SCOPED_A}
B = {"x-internal-api-key": SCOPED_B}
G = {"Authorization": f"Bearer {GLOBAL}"}


def reseller_settings(tmp_path: Path, database_url: str, redis_url: str, **environ: str) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url,
                         INTERNAL_API_KEYS=INTERNAL_API_KEYS, **environ)


async def tenant(db: Db, user_id: str = "usr_1", source: str = "svc-a", timezone: str = "Asia/Jakarta",
                 **values: Any) -> tuple[int, str]:
    """A tenant and the plaintext of its customer API key."""
    made = await tenants.upsert_tenant(db, None, scope=source, user_id=user_id, values=values, timezone=timezone,
                                       actor=Actor(ActorType.SYSTEM, "tests"))
    assert made.api_key is not None
    return made.view.tenant.id, made.api_key


async def session(db: Db, session_id: str, tenant_id: int | None, status: SessionStatus = SessionStatus.WORKING,
                  **values: Any) -> str:
    """A session row as the bridge would leave it; the plaintext of its token."""
    token = new_token()
    async with db() as s, s.begin():
        s.add(WaSession(id=session_id, tenant_id=tenant_id, name=session_id, status=status,
                        token_hash=hash_token(token), **values))
    return token
