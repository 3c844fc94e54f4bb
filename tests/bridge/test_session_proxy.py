"""A session connects through its proxy: a real local SOCKS5 or HTTP CONNECT proxy sees the tunnel to WhatsApp, with
the session's credentials; a proxy that is down or refuses fails the session with a reason naming it."""

from __future__ import annotations

import pytest
from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import RunningBridge, add_session, link_session, wait_status
from tests.proxies import running_proxy
from wagate.config import Settings
from wagate.db.enums import ActorType, SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.queue.jobs import enqueue_session_command
from wagate.services.sessions import proxy
from wagate.services.sessions.lifecycle import Actor

ADMIN = Actor(ActorType.SYSTEM, "test")


@pytest.mark.parametrize("kind", ["socks5", "http"])
async def test_a_session_connects_through_its_proxy_with_its_credentials(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge, kind: str,
) -> None:
    async with running_proxy(kind, user="alice", password="s3cr:et") as server:
        await add_session(db, "s1")
        url = server.url(user="alice", password="s3cr%3Aet")  # a ":" in the password is written escaped
        shown = await proxy.set_proxy(db, arq_redis, settings, "s1", url, tenant_id=None, actor=ADMIN)
        assert shown == f"{kind}://***@127.0.0.1:{server.port}"
        async with db() as s:
            stored = await s.scalar(select(WaSession.proxy_url_encrypted).where(WaSession.id == "s1"))
        assert stored and "s3cr" not in stored and "alice" not in stored  # encrypted at rest

        await link_session(running, db, arq_redis, settings, "s1")
        tunnel = await server.wait_for_tunnel()
        assert (tunnel.host, tunnel.port) == ("web.whatsapp.com", 443)
        assert (tunnel.user, tunnel.password) == ("alice", "s3cr:et")
        assert [dial[0] for dial in running.sim.proxy_dials] == ["s1"]


async def test_a_proxy_that_is_down_or_refuses_fails_the_session_with_a_clear_reason(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
) -> None:
    async with running_proxy("socks5", user="alice", password="right") as server:
        await add_session(db, "wrong")
        await proxy.set_proxy(db, arq_redis, settings, "wrong", server.url(user="alice", password="wrong"),
                              tenant_id=None, actor=ADMIN)
        await enqueue_session_command(arq_redis, settings.bridge_shards, "wrong", "start")
        row = await wait_status(db, "wrong", SessionStatus.FAILED)
        assert row.status_reason == f"proxy 127.0.0.1:{server.port}: the proxy refused the credentials"
        assert server.refused == ["bad credentials"] and not server.tunnels
        port = server.port
    await add_session(db, "down")
    await proxy.set_proxy(db, arq_redis, settings, "down", f"http://127.0.0.1:{port}", tenant_id=None, actor=ADMIN)
    await enqueue_session_command(arq_redis, settings.bridge_shards, "down", "start")
    row = await wait_status(db, "down", SessionStatus.FAILED)
    assert row.status_reason is not None
    assert row.status_reason == f"proxy 127.0.0.1:{port}: cannot reach the proxy: connection refused"


async def test_changing_the_proxy_restarts_a_working_session_through_the_new_one(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
) -> None:
    await add_session(db, "s1")
    await link_session(running, db, arq_redis, settings, "s1")
    async with running_proxy("http") as server:
        await proxy.set_proxy(db, arq_redis, settings, "s1", server.url(), tenant_id=None, actor=ADMIN)
        tunnel = await server.wait_for_tunnel()
        assert tunnel.host == "web.whatsapp.com" and tunnel.user is None
        await wait_status(db, "s1", SessionStatus.WORKING)


async def test_a_proxy_url_the_key_cannot_read_fails_the_session_instead_of_connecting_directly(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, running: RunningBridge,
) -> None:
    from cryptography.fernet import Fernet

    other_key = Fernet.generate_key().decode()
    await add_session(db, "s1", proxy_url_encrypted=Fernet(other_key.encode()).encrypt(b"socks5://h:1").decode())
    await enqueue_session_command(arq_redis, settings.bridge_shards, "s1", "start")
    row = await wait_status(db, "s1", SessionStatus.FAILED)
    assert "ENCRYPTION_KEY" in (row.status_reason or "")
    assert not await running.sim.is_connected("s1")
