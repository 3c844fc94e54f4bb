"""The webhooks API over real HTTP with an admin API key: CRUD, secret shown once, deliveries, redelivery, test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.fixtures import make_settings
from tests.services.webhook_receiver import FAST, DummyReceiver, running_worker, verify_wagate, wait_deliveries
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import DeliveryStatus, Role
from wagate.db.models_delivery import Webhook
from wagate.db.models_identity import ApiKey, AuditLog
from wagate.logging import configure_logging
from wagate.services.identity.credentials import new_api_key
from wagate.web.app import create_app
from wagate.web.routes import webhooks as webhook_routes


async def test_webhooks_api(aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, **FAST)
    configure_logging(settings, "web")
    app = create_app(settings)
    if not any(getattr(r, "canonical", "") == "/api/webhooks" for r in app.router.resources()):
        app.add_routes(webhook_routes.routes)
    client: TestClient = await aiohttp_client(app)
    engine = create_engine(settings)
    db = create_sessionmaker(engine)
    receiver = DummyReceiver()
    await receiver.start()
    try:
        key = new_api_key()
        async with db() as s, s.begin():
            s.add(ApiKey(name="admin", key_hash=key.hash, prefix=key.prefix, role=Role.ADMIN))
        admin = {"x-api-key": key.plaintext}

        assert (await client.get("/api/webhooks")).status == 401
        bad = await client.post("/api/webhooks", json={"url": "http://169.254.169.254/", "events": "*"}, headers=admin)
        assert bad.status == 400 and (await bad.json())["success"] is False
        made = await client.post("/api/webhooks", headers=admin,
                                 json={"url": receiver.url, "events": ["message.received"]})
        body = await made.json()
        assert made.status == 201 and body["success"] is True
        webhook_id, secret = body["data"]["id"], body["data"]["secret"]
        got = await (await client.get(f"/api/webhooks/{webhook_id}", headers=admin)).json()
        assert "secret" not in got["data"] and got["data"]["events"] == ["message.received"]
        async with db() as s:
            stored = (await s.scalars(select(Webhook.secret_encrypted))).one()
            assert stored is not None and secret not in stored

        changed = await client.put(f"/api/webhooks/{webhook_id}", json={"events": "*"}, headers=admin)
        assert (await changed.json())["data"]["events"] == "*"
        rotated = await (await client.post(f"/api/webhooks/{webhook_id}/secret", headers=admin)).json()
        assert rotated["data"]["secret"] != secret
        secret = rotated["data"]["secret"]

        receiver.answers.append(410)
        async with running_worker(settings):
            assert (await client.post(f"/api/webhooks/{webhook_id}/test", headers=admin)).status == 202
            [failed] = await wait_deliveries(db, 1, status=DeliveryStatus.FAILED)
            listed = await (await client.get(f"/api/webhooks/{webhook_id}/deliveries?status=failed",
                                             headers=admin)).json()
            assert listed["data"]["total"] == 1 and listed["data"]["items"][0]["id"] == failed.id
            assert (await client.post(f"/api/webhooks/{webhook_id}/redeliver?status=failed", headers=admin)
                    ).status == 202
            await wait_deliveries(db, 1, status=DeliveryStatus.DELIVERED)
            assert (await client.post(f"/api/webhooks/deliveries/{failed.id}/redeliver", headers=admin)).status == 202
            await receiver.wait_for(3)
            await wait_deliveries(db, 1, status=DeliveryStatus.DELIVERED, attempts=3)
        detail = await (await client.get(f"/api/webhooks/deliveries/{failed.id}", headers=admin)).json()
        assert [a["status_code"] for a in detail["data"]["attempt_log"]] == [410, 200, 200]
        assert receiver.requests[-1].headers["X-WAGate-Event"] == "webhook.test"
        assert verify_wagate(secret, receiver.requests[-1])

        assert (await client.delete(f"/api/webhooks/{webhook_id}", headers=admin)).status == 200
        assert (await client.get(f"/api/webhooks/{webhook_id}", headers=admin)).status == 404
        async with db() as s:
            actions = list(await s.scalars(select(AuditLog.action).order_by(AuditLog.id)))
        assert actions == ["webhook.create", "webhook.update", "webhook.rotate_secret", "webhook.test",
                           "webhook.redeliver_bulk", "webhook.redeliver", "webhook.delete"]
    finally:
        await receiver.stop()
        await engine.dispose()
