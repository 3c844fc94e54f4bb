"""The simulator's phone-side routes over real HTTP: mounted only with the simulator, bodies checked, jobs queued."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis
from arq.jobs import Job, JobDef
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.workers import start_in_loop
from wagate.config import Settings
from wagate.db.enums import ActorType, Direction, SessionStatus
from wagate.db.models_whatsapp import Message
from wagate.queue import jobs
from wagate.queue.names import bridge_queue
from wagate.services.sessions import lifecycle
from wagate.web.app import create_app
from wagate.web.keys import REDIS
from workers.bridge import create_bridge

Db = async_sessionmaker[AsyncSession]
SESSION = "sim-1"


@pytest.fixture
async def linked(client: TestClient, db: Db, settings: Settings) -> str:
    """A session row for the routes to act on (the bridge is not running: jobs stay queued for inspection)."""
    await lifecycle.create_session(db, client.app[REDIS], settings, tenant_id=None, session_id=SESSION, name="Sim",
                                  auto_connect=False, actor=lifecycle.Actor(ActorType.SYSTEM, "test"))
    return SESSION


async def queued(redis: ArqRedis, shards: int = 1) -> list[tuple[int, str, JobDef]]:
    """(shard, job id, job) of every job waiting on the bridge queues (arq keeps a queue as a sorted set)."""
    found = []
    for shard in range(shards):
        queue = bridge_queue(shard)
        for job_id in await redis.zrange(queue, 0, -1):
            info = await Job(job_id.decode(), redis, _queue_name=queue).info()
            assert info is not None
            found.append((shard, job_id.decode(), info))
    return found


GOOD_CALLS: list[tuple[str, dict[str, Any] | None, str, dict[str, Any]]] = [
    ("scan", {"phone": "+62 812-3456-7890", "push_name": "Budi", "platform": "ios"}, "scan",
     {"phone": "6281234567890", "push_name": "Budi", "platform": "ios"}),
    ("scan", None, "scan", {}),  # no body: the simulator's default phone
    ("pair-code", {"code": "ABCD-1234"}, "enter_pair_code", {"code": "ABCD-1234"}),
    ("inbound", {"from": "6289876543210", "text": "pinjam ruang", "via_lid": True, "push_name": "Siti",
                 "is_group": False, "type": "text"}, "inject_message",
     {"from_phone": "6289876543210", "text": "pinjam ruang", "via_lid": True, "push_name": "Siti",
      "is_group": False, "type": "text"}),
    ("inbound", {"from": "6289876543210"}, "inject_message", {"from_phone": "6289876543210"}),
    ("drop", {"reconnect": False}, "drop_connection", {"reconnect": False}),
    ("drop", None, "drop_connection", {"reconnect": True}),
    ("unlink", None, "unlink_from_phone", {}),
    ("unlink", {}, "unlink_from_phone", {}),
    ("send-failure", {"kind": "permanent", "times": 3}, "set_send_failure", {"kind": "permanent", "times": 3}),
    ("send-failure", {"kind": "none"}, "set_send_failure", {"kind": "none", "times": 1}),
    # the contacts' side: every kind, and what they do to messages
    ("receive", {"from": "6289876543210", "type": "image", "text": "foto", "data_base64": "/9j/4AAQ",
                 "width": 640}, "contact_sends",
     {"from_phone": "6289876543210", "kind": "image", "text": "foto", "data": b"\xff\xd8\xff\xe0\x00\x10",
      "width": 640}),
    ("receive", {"from": "6289876543210", "type": "poll", "question": "Hari?", "options": ["Senin", "Selasa"],
                 "selectable_count": 1}, "contact_sends",
     {"from_phone": "6289876543210", "kind": "poll", "question": "Hari?", "options": ["Senin", "Selasa"],
      "selectable_count": 1}),
    ("receive", {"from": "6289876543210", "type": "contact", "contacts": [{"name": "Siti", "phones": ["+62 811"
                                                                                                     "22223333"]}]},
     "contact_sends", {"from_phone": "6289876543210", "kind": "contact",
                       "contacts": [{"name": "Siti", "phones": ["6281122223333"]}]}),
    ("react", {"from": "6289876543210", "message_id": "3EB0AA", "emoji": ""}, "contact_reacts",
     {"from_phone": "6289876543210", "message_id": "3EB0AA", "emoji": ""}),
    ("edit", {"from": "6289876543210", "message_id": "3EB0AA", "text": "baru"}, "contact_edits",
     {"from_phone": "6289876543210", "message_id": "3EB0AA", "text": "baru"}),
    ("revoke", {"from": "6289876543210", "message_id": "3EB0AA"}, "contact_revokes",
     {"from_phone": "6289876543210", "message_id": "3EB0AA"}),
    ("vote", {"from": "6289876543210", "message_id": "3EB0AA", "options": []}, "contact_votes",
     {"from_phone": "6289876543210", "message_id": "3EB0AA", "options": []}),
    ("presence", {"from": "6289876543210", "state": "composing"}, "contact_presence",
     {"from_phone": "6289876543210", "state": "composing"}),
    ("history", {"messages": [{"from": "6289876543210", "text": "dulu", "days_ago": 3}]}, "phone_sends_history",
     {"messages": [{"from_phone": "6289876543210", "kind": "text", "text": "dulu", "days_ago": 3.0,
                    "from_me": False}], "sync_type": "initial_bootstrap", "progress": 100}),
    ("send-limit", {"seconds": 600}, "set_send_limit", {"seconds": 600, "code": 463}),
    ("send-limit", {"seconds": 0, "code": 429}, "set_send_limit", {"seconds": 0, "code": 429}),
    ("silent", None, "go_silent", {}),
]


@pytest.mark.parametrize(("route", "body", "action", "params"), GOOD_CALLS)
async def test_good_calls_queue_the_action_for_the_sessions_bridge(
    client: TestClient, linked: str, route: str, body: dict[str, Any] | None, action: str, params: dict[str, Any]
) -> None:
    response = await client.post(f"/simulator/sessions/{linked}/{route}", json=body)
    assert response.status == 202, await response.text()
    answer = await response.json()
    assert answer["success"] is True and answer["message"]
    [(shard, job_id, job)] = await queued(client.app[REDIS])
    assert shard == 0
    assert answer["data"] == {"job_id": job_id, "done": False}  # no bridge runs: the action waits for one
    assert job_id.startswith(f"sim:{linked}:{action}:")
    assert job.function == jobs.SIMULATOR_CONTROL
    assert job.args == (linked, action, params)


BAD_BODIES: list[tuple[str, Any, str]] = [
    ("scan", {"phone": "0812345"}, "phone"),
    ("scan", {"phone": "not a phone"}, "phone"),
    ("scan", {"platform": ""}, "platform"),
    ("scan", {"colour": "blue"}, "colour"),  # unknown fields are refused, not ignored
    ("pair-code", {}, "code"),
    ("pair-code", {"code": "12-34"}, "code"),
    ("inbound", {"text": "hi"}, "from"),
    ("inbound", {"from": "6289876543210", "type": "hologram"}, "type"),
    ("inbound", {"from": "6289876543210", "via_lid": "maybe"}, "via_lid"),
    ("drop", {"reconnect": "soon"}, "reconnect"),
    ("send-failure", {"kind": "sometimes"}, "kind"),
    ("send-failure", {"kind": "transient", "times": 0}, "times"),
    ("send-failure", {"kind": "transient", "times": "2"}, "times"),
    ("send-failure", ["transient"], "_schema"),
    ("receive", {"from": "6289876543210", "type": "location", "latitude": -6.2}, "longitude"),
    ("receive", {"from": "6289876543210", "type": "location", "latitude": 91, "longitude": 0}, "latitude"),
    ("receive", {"from": "6289876543210", "type": "poll", "question": "Hari?", "options": ["Senin"]}, "options"),
    ("receive", {"from": "6289876543210", "type": "contact"}, "contacts"),
    ("receive", {"from": "6289876543210", "type": "image", "data_base64": "not base64!"}, "data_base64"),
    ("receive", {"from": "6289876543210", "type": "video", "size": 17 * 1024 * 1024}, "size"),
    ("receive", {"from": "6289876543210", "type": "hologram"}, "type"),
    ("receive", {"from": "6289876543210", "group": "not-a-group"}, "group"),
    ("react", {"from": "6289876543210"}, "message_id"),
    ("edit", {"from": "6289876543210", "message_id": "3EB0AA", "text": ""}, "text"),
    ("vote", {"from": "6289876543210", "message_id": "3EB0AA"}, "options"),
    ("presence", {"from": "6289876543210", "state": "dancing"}, "state"),
    ("history", {"messages": [{"text": "no sender"}]}, "messages.0.from"),
    ("send-limit", {"seconds": 60, "code": 500}, "code"),
    ("send-limit", {"code": 463}, "seconds"),
]


@pytest.mark.parametrize(("route", "body", "field"), BAD_BODIES)
async def test_bad_bodies_are_400_with_field_details(
    client: TestClient, linked: str, route: str, body: Any, field: str
) -> None:
    response = await client.post(f"/simulator/sessions/{linked}/{route}", json=body)
    assert response.status == 400
    answer = await response.json()
    assert answer["success"] is False
    assert field in answer["details"], answer
    assert await queued(client.app[REDIS]) == []


async def test_malformed_json_is_400(client: TestClient, linked: str) -> None:
    response = await client.post(f"/simulator/sessions/{linked}/scan", data=b"{nope",
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["message"].startswith("Malformed JSON")


@pytest.mark.parametrize("route", ["scan", "pair-code", "inbound", "drop", "unlink", "send-failure", "send-limit",
                                   "silent"])
async def test_an_unknown_session_is_404(client: TestClient, route: str) -> None:
    body = {"scan": {}, "pair-code": {"code": "ABCD1234"}, "inbound": {"from": "6281234567890"}, "drop": {},
            "unlink": {}, "send-failure": {"kind": "transient"}, "send-limit": {"seconds": 1}, "silent": {}}[route]
    response = await client.post(f"/simulator/sessions/nobody/{route}", json=body)
    assert response.status == 404
    assert "nobody" in (await response.json())["message"]
    assert await queued(client.app[REDIS]) == []


async def test_not_on_whatsapp_reaches_every_shard(aiohttp_client: Any, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings.replace(bridge_shards=3)))
    response = await client.post("/simulator/not-on-whatsapp", json={"phone": "+1 415 555 2671"})
    assert response.status == 202, await response.text()
    answer = await response.json()
    found = await queued(client.app[REDIS], shards=3)
    assert sorted(shard for shard, _, _ in found) == [0, 1, 2]
    assert sorted(answer["data"]["job_ids"]) == sorted(job_id for _, job_id, _ in found)
    for _, _, job in found:
        assert job.function == jobs.SIMULATOR_CONTROL
        assert job.args == (lifecycle.EVERY_SESSION, "set_not_on_whatsapp", {"phone": "14155552671", "not_on": True})

    response = await client.post("/simulator/not-on-whatsapp", json={"phone": "14155552671", "not_on": False})
    assert response.status == 202
    response = await client.post("/simulator/not-on-whatsapp", json={})
    assert response.status == 400 and "phone" in (await response.json())["details"]


async def test_routes_are_absent_with_the_real_transport(aiohttp_client: Any, settings: Settings, db: Db) -> None:
    client: TestClient = await aiohttp_client(create_app(settings.replace(wa_transport="neonize")))
    await lifecycle.create_session(db, client.app[REDIS], settings, tenant_id=None, session_id=SESSION, name="Real",
                                  auto_connect=False, actor=lifecycle.Actor(ActorType.SYSTEM, "test"))
    for path in (f"/simulator/sessions/{SESSION}/scan", f"/simulator/sessions/{SESSION}/unlink",
                 "/simulator/not-on-whatsapp"):
        response = await client.post(path, json={"phone": "6281234567890"})
        assert response.status == 404, path
    assert await queued(client.app[REDIS]) == []


async def until(check: Any, timeout: float = 15.0) -> Any:
    """Poll `check()` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await check()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


@pytest.mark.slow
async def test_a_person_links_and_messages_a_session_through_a_real_bridge(
    aiohttp_client: Any, settings: Settings, db: Db
) -> None:
    """Create (auto-connect) → the bridge shows a QR → /scan → WORKING → /inbound is stored as received."""
    fast = settings.replace(simulator_speed=20.0)
    client: TestClient = await aiohttp_client(create_app(fast))
    bridge = await start_in_loop(create_bridge(fast, 0, handle_signals=False), lambda w: "bridge" in w.ctx)
    try:
        await lifecycle.create_session(db, client.app[REDIS], fast, tenant_id=None, session_id="e2e", name="E2E",
                                      actor=lifecycle.Actor(ActorType.SYSTEM, "test"))
        qr = await until(lambda: lifecycle.current_qr(client.app[REDIS], "e2e"))
        scan = {"phone": "6281111111111", "code": qr["code"]}  # exactly the code the API would show
        response = await client.post("/simulator/sessions/e2e/scan", json=scan)
        assert response.status == 202
        assert (await response.json())["data"]["done"] is True  # the bridge answered: the phone scanned

        async def status() -> SessionStatus | None:
            row = await lifecycle.get_session(db, "e2e")
            return row.status if row.status == SessionStatus.WORKING else None

        await until(status)
        assert await lifecycle.current_qr(client.app[REDIS], "e2e") is None  # gone once linked
        response = await client.post("/simulator/sessions/e2e/inbound", json={"from": "6282222222222", "text": "halo"})
        assert response.status == 202

        async def received() -> str | None:
            async with db() as s:
                return await s.scalar(select(Message.body).where(Message.session_id == "e2e",
                                                                 Message.direction == Direction.INBOUND))

        assert await until(received) == "halo"
    finally:
        await bridge.stop()


async def test_a_phone_action_that_cannot_happen_is_409_with_the_reason(
    aiohttp_client: Any, settings: Settings, db: Db
) -> None:
    """A STOPPED session shows no QR code: the scan is refused with why, not answered as done."""
    client: TestClient = await aiohttp_client(create_app(settings))
    bridge = await start_in_loop(create_bridge(settings, 0, handle_signals=False), lambda w: "bridge" in w.ctx)
    try:
        await lifecycle.create_session(db, client.app[REDIS], settings, tenant_id=None, session_id="idle",
                                      name="Idle", auto_connect=False, actor=lifecycle.Actor(ActorType.SYSTEM, "test"))
        response = await client.post("/simulator/sessions/idle/scan", json={})
        assert response.status == 409, await response.text()
        answer = await response.json()
        assert answer["success"] is False and "no QR code is on screen" in answer["message"]
        assert answer["details"] == {"session": ["no QR code is on screen"]}
        response = await client.post("/simulator/sessions/idle/inbound", json={"from": "6282222222222"})
        assert response.status == 409 and "not linked" in (await response.json())["message"]
        async with db() as s:
            assert await s.scalar(select(Message.id).where(Message.session_id == "idle")) is None
    finally:
        await bridge.stop()
