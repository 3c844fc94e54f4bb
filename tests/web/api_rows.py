"""Rows and credentials the HTTP API tests arrange directly: API keys, tenants, sessions, messages, queued jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.enums import Role, SessionStatus
from wagate.db.models_identity import ApiKey, AuditLog, Tenant
from wagate.db.models_whatsapp import Message, WaSession
from wagate.queue.names import bridge_queue
from wagate.services.identity.credentials import hash_token, new_api_key

Db = async_sessionmaker[AsyncSession]


@dataclass
class Rows:
    db: Db

    async def key(self, role: Role = Role.OPERATOR, tenant_id: int | None = None) -> dict[str, str]:
        """Headers carrying a fresh API key of `role` (bound to `tenant_id` when given)."""
        key = new_api_key()
        async with self.db() as s, s.begin():
            s.add(ApiKey(name=f"test {role}", key_hash=key.hash, prefix=key.prefix, role=role, tenant_id=tenant_id))
        return {"x-api-key": key.plaintext}

    async def tenant(self, user_id: str = "usr_001", **values: Any) -> int:
        async with self.db() as s, s.begin():
            tenant = Tenant(user_id=user_id, source_service="genfity-app", **values)
            s.add(tenant)
            await s.flush()
            return tenant.id

    async def session(self, session_id: str = "sales-1", tenant_id: int | None = None,
                      status: SessionStatus = SessionStatus.WORKING, **values: Any) -> str:
        values.setdefault("jid", "6281100000001@s.whatsapp.net")
        async with self.db() as s, s.begin():
            s.add(WaSession(id=session_id, tenant_id=tenant_id, status=status, token_hash=hash_token(session_id),
                            **values))
        return session_id

    async def add(self, *rows: Any) -> None:
        async with self.db() as s, s.begin():
            s.add_all(rows)

    async def messages(self) -> list[Message]:
        async with self.db() as s:
            return list(await s.scalars(select(Message).order_by(Message.id)))

    async def count(self, model: Any) -> int:
        async with self.db() as s:
            return await s.scalar(select(func.count()).select_from(model)) or 0

    async def get(self, model: Any, ident: Any) -> Any:
        async with self.db() as s:
            return await s.get(model, ident)

    async def audits(self) -> list[AuditLog]:
        async with self.db() as s:
            return list(await s.scalars(select(AuditLog).order_by(AuditLog.id)))


async def queued(redis: ArqRedis, shards: int = 1) -> list[str]:
    """Ids of the jobs waiting on the bridge queues."""
    found: list[str] = []
    for shard in range(shards):
        found += [raw.decode() for raw in await redis.zrange(bridge_queue(shard), 0, -1)]
    return found
