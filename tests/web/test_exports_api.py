"""The event exports API over real HTTP, with the real worker and a real NATS server: CRUD, the password never
shown, events on the broker with their id, the broker's outage in the status, /metrics and /api/health."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import nats
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.broker_servers import NatsProcess
from tests.services.webhook_receiver import running_worker
from wagate.config import Settings
from wagate.db.engine import create_engine
from wagate.db.enums import Role
from wagate.db.models_export import EventExport
from wagate.db.models_identity import ApiKey, AuditLog, Tenant
from wagate.services import events
from wagate.services.exports import backlog
from wagate.services.identity.credentials import new_api_key
from wagate.services.operations import health

Db = async_sessionmaker[AsyncSession]
PASSWORD = "s3cret-broker-pw"  # noqa: S105 - a test value that must never come back


async def admin_headers(db: Db) -> dict[str, str]:
    key = new_api_key()
    async with db() as s, s.begin():
        s.add(ApiKey(name="admin", key_hash=key.hash, prefix=key.prefix, role=Role.ADMIN))
    return {"x-api-key": key.plaintext}


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return found


async def test_refusals_say_what_to_fix(client: TestClient, db: Db) -> None:
    admin = await admin_headers(db)
    assert (await client.get("/api/exports")).status == 401
    cases = [({"url": "nats://127.0.0.1:4222"}, "kind"),
             ({"kind": "nats", "url": "amqp://127.0.0.1/"}, "url"),
             ({"kind": "rabbitmq", "url": "amqp://"}, "url"),
             ({"kind": "nats", "url": "nats://127.0.0.1", "target": "a.b"}, "target"),
             ({"kind": "nats", "url": "nats://127.0.0.1", "prefix": "wagate.>"}, "prefix"),
             ({"kind": "nats", "url": "nats://127.0.0.1", "events": ["message.nope"]}, "events"),
             ({"kind": "nats", "url": "nats://127.0.0.1", "session_id": "missing"}, "session_id")]
    for body, field in cases:
        answer = await client.post("/api/exports", json=body, headers=admin)
        shown = await answer.json()
        assert answer.status == 400 and shown["success"] is False and field in shown["details"], (body, shown)
    async with db() as s:
        assert not list(await s.scalars(select(EventExport)))
    assert (await client.get("/api/exports/99", headers=admin)).status == 404


async def test_export_lifecycle_through_a_broker_outage(client: TestClient, db: Db, settings: Settings,
                                                        nats_server: NatsProcess) -> None:
    nats_server.ensure_running()
    assert settings.redis_url is not None
    redis = Redis.from_url(settings.redis_url)
    # The server outlives the test and keeps its streams, and two streams may not share subjects.
    mark = uuid.uuid4().hex[:8]
    stream, prefix = f"WAGATE_{mark}", f"t{mark}"
    admin = await admin_headers(db)
    url = f"nats://wagate:{PASSWORD}@127.0.0.1:{nats_server.port}"
    made = await client.post("/api/exports", headers=admin, json={
        "kind": "nats", "url": url, "target": stream, "prefix": prefix, "events": ["message.received"]})
    body = await made.json()
    assert made.status == 201, body
    export_id = body["data"]["id"]
    assert body["data"]["url"] == f"nats://wagate:***@127.0.0.1:{nats_server.port}"
    async with db() as s:
        stored = (await s.scalars(select(EventExport))).one()
        audits = [a.details for a in await s.scalars(select(AuditLog).where(AuditLog.action == "export.create"))]
    assert PASSWORD not in stored.url_encrypted and PASSWORD not in json.dumps(audits) and len(audits) == 1

    nc = await nats.connect(nats_server.url)
    inbox = await nc.subscribe(f"{prefix}.>")
    engine = create_engine(settings)
    try:
        async with running_worker(settings):
            async def up() -> bool:
                got = await (await client.get(f"/api/exports/{export_id}", headers=admin)).json()
                return bool(got["data"]["status"] and got["data"]["status"]["up"])

            await until(up)
            ignored = events.envelope("message.sent", "s1", {})
            wanted = events.envelope("message.received", "s1", {"text": "hi"})
            await events.publish(redis, None, ignored, wanted)
            message = await inbox.next_msg(timeout=10)
            assert message.subject == f"{prefix}.global.s1.message.received"
            assert message.headers and message.headers["Nats-Msg-Id"] == wanted["id"]
            assert json.loads(message.data) == wanted  # the same envelope webhooks get

            await asyncio.to_thread(nats_server.stop)
            late = events.envelope("message.received", "s2", {})
            await events.publish(redis, None, late)

            async def down() -> dict[str, Any] | None:
                got = await (await client.get(f"/api/exports/{export_id}", headers=admin)).json()
                status = got["data"]["status"]
                return status if status["up"] is False and status["waiting"] == 1 else None

            status = await until(down)
            report = await health.check(engine, redis, shards=settings.bridge_shards, started_at=time.time(),
                                        broker_down_bound_s=0.0)
            assert report.status == "degraded" and report.exports[0]["id"] == export_id
            assert report.exports[0]["up"] is False and status["lag_s"] >= 0
            metrics = await (await client.get("/metrics", headers=admin)).text()
            assert f'wagate_broker_backlog{{export="{export_id}"}} 1.0' in metrics
            assert f'wagate_broker_up{{export="{export_id}"}} 0.0' in metrics
            shown = await (await client.get("/api/health")).json()
            assert shown["exports"][0]["up"] is False  # shown at once; degraded only past the bound

            await asyncio.to_thread(nats_server.start)
            await nc.close()
            nc = await nats.connect(nats_server.url)
            js = nc.jetstream()
            stored_late = await until(lambda: _last(js, stream))
            assert json.loads(stored_late)["id"] == late["id"]
            assert await until(up)

            changed = await client.put(f"/api/exports/{export_id}", headers=admin, json={"url": "amqp://x/"})
            assert changed.status == 400
            assert (await client.delete(f"/api/exports/{export_id}", headers=admin)).status == 200

            async def forgotten() -> bool:
                return backlog.group_name(export_id) not in {g.name for g in await backlog.groups(redis)}

            await until(forgotten)
    finally:
        await nc.close()
        await engine.dispose()
        await redis.aclose()


async def _last(js: Any, stream: str) -> bytes | None:
    try:
        info = await js.stream_info(stream)
        return (await js.get_msg(stream, info.state.last_seq)).data if info.state.messages >= 2 else None
    except Exception:  # noqa: BLE001 - the stream is still recovering after the restart
        return None


async def test_a_tenant_bound_admin_cannot_point_an_export_inside(client: TestClient, db: Db) -> None:
    async with db() as s, s.begin():
        tenant = Tenant(user_id="usr_x", source_service="genfity-app")
        s.add(tenant)
        await s.flush()
        key = new_api_key()
        s.add(ApiKey(name="tenant admin", key_hash=key.hash, prefix=key.prefix, role=Role.ADMIN, tenant_id=tenant.id))
    headers = {"x-api-key": key.plaintext}
    for url in ("nats://127.0.0.1:4222", "amqp://u:p@10.0.0.5/", "nats://[::1]:4222", "nats://169.254.169.254"):
        kind = "rabbitmq" if url.startswith("amqp") else "nats"
        answer = await client.post("/api/exports", headers=headers, json={"kind": kind, "url": url})
        assert answer.status == 400 and "url" in (await answer.json())["details"], url
    global_admin = await admin_headers(db)
    assert (await client.post("/api/exports", headers=global_admin,
                              json={"kind": "nats", "url": "nats://127.0.0.1:4222"})).status == 201
    async with db() as s:
        assert [e.tenant_id for e in await s.scalars(select(EventExport))] == [None]
