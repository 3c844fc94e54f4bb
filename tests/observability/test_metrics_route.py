"""`GET /metrics` in one web process: who may read it, route-template labels, and the gauges read at scrape."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from tests.web.identities import ClientFactory, add_key, client_factory
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import Direction, MessageStatus, Role, SessionStatus
from wagate.db.models_whatsapp import Message, WaSession
from wagate.queue.names import WORKER_QUEUE
from wagate.services.identity.credentials import hash_token, new_token


@pytest.fixture
def make_client(aiohttp_client: Any, tmp_path: Path, database_url: str, redis_url: str) -> ClientFactory:
    return client_factory(aiohttp_client, tmp_path, database_url, redis_url)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def admin_headers(client: TestClient) -> dict[str, str]:
    db = create_sessionmaker(engine := create_engine(_settings(client)))
    try:
        _, key = await add_key(db, Role.ADMIN)
    finally:
        await engine.dispose()
    return {"x-api-key": key}


def _settings(client: TestClient) -> Any:
    from wagate.web.keys import SETTINGS

    return client.app[SETTINGS]


async def scrape(client: TestClient, headers: dict[str, str]) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return await response.text()


async def test_metrics_need_an_admin_credential(make_client: ClientFactory) -> None:
    client = await make_client()
    assert (await client.get("/metrics")).status == 401
    db = create_sessionmaker(engine := create_engine(_settings(client)))
    _, operator = await add_key(db, Role.OPERATOR)
    await engine.dispose()
    assert (await client.get("/metrics", headers={"x-api-key": operator})).status == 403
    text = await scrape(client, await admin_headers(client))
    assert "wagate_http_request_duration_seconds" in text


async def test_an_allowed_address_scrapes_without_credentials(make_client: ClientFactory) -> None:
    client = await make_client(METRICS_ALLOW_IPS="127.0.0.0/8")
    assert "wagate_sessions" in await scrape(client, {})


@pytest.mark.parametrize(("trusted", "allowed"), [("192.0.2.1", False), ("127.0.0.1", True)])
async def test_the_allow_list_sees_the_address_the_trusted_proxy_logic_computed(
    make_client: ClientFactory, trusted: str, allowed: bool,
) -> None:
    """A forged X-Forwarded-For from a peer that is not a trusted proxy does not put the caller in the allow-list."""
    client = await make_client(METRICS_ALLOW_IPS="10.0.0.0/8", TRUSTED_PROXIES=trusted)
    response = await client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert response.status == (200 if allowed else 401)


async def test_latency_is_labelled_by_route_template_not_by_url(make_client: ClientFactory) -> None:
    client = await make_client()
    headers = await admin_headers(client)
    before = await scrape(client, headers)
    template = {"method": "GET", "route": "/api/sessions/{session_id}", "status_class": "4xx"}
    for n in range(3):
        assert (await client.get(f"/api/sessions/nope-{n}", headers=headers)).status == 404
    await client.get("/no/such/page/42")
    after = await scrape(client, headers)
    name = "wagate_http_request_duration_seconds_count"
    assert value(after, name, **template) - value(before, name, **template) == 3
    assert value(after, name, method="GET", route="unmatched", status_class="4xx") >= 1
    assert "nope-" not in after and "/no/such" not in after


async def test_sessions_and_queue_depth_are_read_at_scrape(make_client: ClientFactory, redis_url: str) -> None:
    client = await make_client(METRICS_ALLOW_IPS="127.0.0.1")
    engine = create_engine(_settings(client))
    async with create_sessionmaker(engine)() as session, session.begin():
        for sid, status in (("w1", SessionStatus.WORKING), ("w2", SessionStatus.WORKING),
                            ("q1", SessionStatus.SCAN_QR_CODE)):
            session.add(WaSession(id=sid, name=sid, token_hash=hash_token(new_token()), status=status))
        await session.flush()
        session.add_all([Message(session_id="w1", direction=Direction.OUTBOUND, status=status)
                         for status in (MessageStatus.QUEUED, MessageStatus.QUEUED, MessageStatus.SENDING,
                                        MessageStatus.SENT)])
    await engine.dispose()
    redis = Redis.from_url(redis_url)
    now_ms = int(time.time() * 1000)
    await redis.zadd(WORKER_QUEUE, {"due": now_ms - 1000, "later": now_ms + 3_600_000})
    await redis.aclose()

    text = await scrape(client, {})
    assert value(text, "wagate_sessions", status="WORKING") == 2
    assert value(text, "wagate_sessions", status="SCAN_QR_CODE") == 1
    assert ("wagate_sessions", frozenset({("status", "LOGGED_OUT")})) in samples(text)  # zero, but present
    assert value(text, "wagate_queue_depth", queue=WORKER_QUEUE) == 2
    assert value(text, "wagate_queue_ready", queue=WORKER_QUEUE) == 1
    assert value(text, "wagate_queue_depth", queue="wagate:queue:bridge:0") == 0
    # The dashboard's Queue length, by the same definition: messages waiting, not jobs.
    assert value(text, "wagate_messages_waiting", status="queued") == 2
    assert value(text, "wagate_messages_waiting", status="sending") == 1
    assert "# HELP wagate_messages_waiting Messages waiting: outgoing messages not sent yet" in text
    assert value(text, "wagate_metrics_source_up", source="database") == 1
    assert value(text, "wagate_metrics_source_up", source="redis") == 1


async def test_rate_limit_rejections_are_counted_by_limit(make_client: ClientFactory) -> None:
    client = await make_client(METRICS_ALLOW_IPS="127.0.0.1", RATE_LIMIT_LOGIN="2/15minute")
    before = value(await scrape(client, {}), "wagate_rate_limit_rejections_total", limit="login")
    statuses = [(await client.post("/api/auth/login", json={"username": "x", "password": "y"})).status
                for _ in range(3)]
    assert statuses[-1] == 429
    after = value(await scrape(client, {}), "wagate_rate_limit_rejections_total", limit="login")
    assert after - before == 1
