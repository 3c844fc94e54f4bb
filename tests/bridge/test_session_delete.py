"""Deleting a session removes its own key files and no other session's, through the web API and the real bridge."""

from __future__ import annotations

from pathlib import Path

from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import RunningBridge, add_session, add_tenant, link_session, until, wait_status
from tests.web.identities import add_key
from wagate.config import Settings
from wagate.db.enums import Role, SessionStatus
from wagate.logging import configure_logging
from wagate.web.app import create_app

COMPANIONS = ("", "-wal", "-shm", "-journal")


def plant_neonize_store(folder: Path, session_id: str) -> list[Path]:
    """The files neonize (SQLite) leaves for a session: the store and the journal files beside it."""
    paths = [folder / f"{session_id}.sqlite3{suffix}" for suffix in COMPANIONS]
    for path in paths:
        path.write_bytes(b"device keys of " + session_id.encode())
    return paths


async def test_deleting_shop_leaves_the_keys_of_shop_main_alone(
    running: RunningBridge, db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings,
    aiohttp_client: object,
) -> None:
    folder = Path(settings.auth_sessions_dir)
    tenant_a, tenant_b = await add_tenant(db, "usr_a"), await add_tenant(db, "usr_b")
    await add_session(db, "shop", tenant=tenant_a)
    await add_session(db, "shop.main", tenant=tenant_b)
    for session_id in ("shop", "shop.main"):
        await link_session(running, db, arq_redis, settings, session_id)
    own = [*plant_neonize_store(folder, "shop"), folder / "shop.simulator.json"]
    others = [*plant_neonize_store(folder, "shop.main"), folder / "shop.main.simulator.json"]
    assert all(p.exists() for p in own + others)

    configure_logging(settings, "web")
    client: TestClient = await aiohttp_client(create_app(settings))  # type: ignore[operator]
    _, key_a = await add_key(db, Role.ADMIN, tenant_id=tenant_a)
    response = await client.delete("/api/sessions/shop", headers={"x-api-key": key_a})
    assert response.status == 200, await response.text()

    async def shop_keys_gone() -> bool:
        return not any(p.exists() for p in own)

    await until(shop_keys_gone, what="the keys of shop removed")
    assert [p.name for p in others if not p.exists()] == []
    assert {p.read_bytes() for p in others if p.suffix != ".json"} == {b"device keys of shop.main"}
    assert (await wait_status(db, "shop.main", SessionStatus.WORKING)).phone == "6281234567890"
    assert await running.sim.is_connected("shop.main")
