"""Dashboard numbers against rows inserted by hand, on both engines, with Jakarta's day boundary; the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.web.api_rows import Db, Rows
from wagate.config import Settings
from wagate.db.enums import ActorType, BroadcastStatus, DeliveryStatus, Direction, MessageStatus, Role
from wagate.db.models_delivery import Broadcast, Webhook, WebhookDelivery
from wagate.db.models_identity import ApiKey, AuditLog
from wagate.db.models_whatsapp import Message
from wagate.services.identity import key_requests
from wagate.services.operations import metrics
from wagate.web.app import redis_client
from wagate.web.keys import KEY_USAGE

# 17:30 UTC on Oct 5 is 00:30 on Oct 6 in Jakarta (UTC+7): "today" began 30 minutes ago.
NOW = datetime(2025, 10, 5, 17, 30, tzinfo=UTC)
A = "6281200000001@s.whatsapp.net"
B = "6281200000002@s.whatsapp.net"


def at(hour: int, minute: int, second: int = 0, day: int = 5) -> datetime:
    return datetime(2025, 10, day, hour, minute, second, tzinfo=UTC)


def out(chat: str, created: datetime, **values: Any) -> Message:
    return Message(session_id=values.pop("session", "s1"), direction=Direction.OUTBOUND, chat_jid=chat,
                   created_at=created, **values)


@pytest.fixture
def rows(db: Db) -> Rows:
    return Rows(db)


@pytest.fixture
async def arranged(rows: Rows) -> None:
    other = await rows.tenant("usr_other")
    await rows.session("s1")
    await rows.session("s2", tenant_id=other)
    await rows.add(
        # Oct 5 23:59:59 in Jakarta: yesterday's, queued 10 s before.
        out(A, at(16, 59, 49), status=MessageStatus.DELIVERED, sent_at=at(16, 59, 59)),
        # Oct 6 00:00:00 in Jakarta: today's first send, queued 60 s before.
        out(A, at(16, 59), status=MessageStatus.SENT, sent_at=at(17, 0)),
        # Scheduled for 17:01: its wait counts from then, 30 s.
        out(B, at(16, 0), status=MessageStatus.READ, send_at=at(17, 1), sent_at=at(17, 1, 30)),
        out(B, at(17, 5), status=MessageStatus.FAILED, failed_at=at(17, 10), error="not on WhatsApp"),
        Message(session_id="s1", direction=Direction.INBOUND, chat_jid=A, created_at=at(17, 20),
                status=MessageStatus.READ),
        out(A, at(17, 25), status=MessageStatus.QUEUED),
        out(A, at(17, 26), status=MessageStatus.SENDING),
        # Another tenant's session: counted for install-wide callers only.
        out(B, at(17, 6), session="s2", status=MessageStatus.SENT, sent_at=at(17, 7)),
        Broadcast(name="promo", template="x", status=BroadcastStatus.RUNNING, session_id="s1"),
        Broadcast(name="later", template="x", status=BroadcastStatus.SCHEDULED, session_id="s1"),
        Broadcast(name="old", template="x", status=BroadcastStatus.COMPLETED, session_id="s1"),
    )
    await rows.add(Webhook(id=1, url="https://example.com/hook", events="*"))
    await rows.add(
        WebhookDelivery(webhook_id=1, event_id="evt_1", event="message.sent", payload="{}",
                        status=DeliveryStatus.DELIVERED, created_at=NOW - timedelta(hours=1)),
        WebhookDelivery(webhook_id=1, event_id="evt_2", event="message.sent", payload="{}",
                        status=DeliveryStatus.DELIVERED, created_at=NOW - timedelta(hours=23)),
        WebhookDelivery(webhook_id=1, event_id="evt_3", event="message.sent", payload="{}",
                        status=DeliveryStatus.EXHAUSTED, created_at=NOW - timedelta(hours=2)),
        WebhookDelivery(webhook_id=1, event_id="evt_4", event="message.sent", payload="{}",
                        status=DeliveryStatus.FAILED, created_at=NOW - timedelta(hours=25)),  # outside the window
        ApiKey(id=7, name="shop", key_hash="h" * 64, prefix="wag_shop", role=Role.OPERATOR,
               last_used_at=at(17, 29)),
        AuditLog(actor_type=ActorType.API_KEY, actor_id="7", action="session.start", created_at=at(12, 0)),
        AuditLog(actor_type=ActorType.API_KEY, actor_id="7", action="session.stop",
                 created_at=datetime(2025, 9, 20, 9, 0, tzinfo=UTC)),  # before the week
    )


async def test_stats_count_todays_rows_in_jakarta_time(db: Db, settings: Settings, arranged: None) -> None:
    redis = redis_client(settings.redis_url or "")
    try:
        async with db() as s:
            stats = await metrics.stats(s, redis, settings, tenant_id=None, started_at=0.0, now=NOW)
    finally:
        await redis.aclose(close_connection_pool=True)
    assert stats["today"] == {"date": "2025-10-06", "timezone": "Asia/Jakarta", "sent": 3, "failed": 1,
                              "received": 1}
    assert stats["messages_sent_today"] == 3 and stats["success_rate"] == 75.0
    # A session's Sent today is the same figure per session: received and queued messages are not in it.
    assert {x["id"]: x["sent_today"] for x in stats["sessions"]} == {"s1": 2, "s2": 1}
    assert "queued or sending" in stats["definitions"]["queue"] and "wagate_messages_waiting" in stats[
        "definitions"]["queue"]
    assert "received" in stats["definitions"]["sent_today"]
    assert stats["queue"] == {"queued": 1, "sending": 1, "length": 2, "jobs": {"bridge": 0, "worker": 0}}
    assert stats["active_broadcasts"] == 1 and stats["broadcasts"] == {"running": 1, "scheduled": 1, "paused": 0}
    assert stats["webhooks"]["deliveries"] == {"delivered": 2, "exhausted": 1} and stats["webhooks"]["total"] == 3
    assert stats["webhooks"]["status"] == "degraded"
    assert stats["sessions_by_status"] == {"WORKING": 2} and stats["connected"] == 2
    assert set(stats["system"]) == {"uptime", "memory", "cpu"}


async def test_stats_of_a_tenant(db: Db, settings: Settings, arranged: None, rows: Rows) -> None:
    mine = await rows.tenant("usr_mine")
    await rows.session("mine", tenant_id=mine)
    await rows.add(out(A, at(17, 1), session="mine", status=MessageStatus.SENT, sent_at=at(17, 2)))
    redis = redis_client(settings.redis_url or "")
    try:
        async with db() as s:
            stats = await metrics.stats(s, redis, settings, tenant_id=mine, started_at=0.0, now=NOW)
    finally:
        await redis.aclose(close_connection_pool=True)
    assert [x["id"] for x in stats["sessions"]] == ["mine"]
    assert stats["today"]["sent"] == 1 and stats["today"]["failed"] == 0 and stats["success_rate"] == 100.0
    assert stats["queue"] == {"queued": 0, "sending": 0, "length": 0, "jobs": None}
    assert stats["active_broadcasts"] == 0 and stats["webhooks"]["total"] == 0


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = redis_client(settings.redis_url or "")
    yield client
    await client.aclose(close_connection_pool=True)


async def test_week_chart(db: Db, settings: Settings, arranged: None, redis: Redis) -> None:
    # Requests counted by the web processes: two hours this week, one just before it (Sep 29 in Jakarta).
    await key_requests.add(redis, {7: 40, 8: 5}, at(9, 15))
    await key_requests.add(redis, {7: 2}, at(17, 29))
    await key_requests.add(redis, {7: 1000}, datetime(2025, 9, 29, 16, 0, tzinfo=UTC))
    async with db() as s:
        chart = await metrics.charts(s, redis, settings, range_name="week", tenant_id=None, now=NOW)
    assert chart["labels"] == [f"2025-09-{d}" for d in (30,)] + [f"2025-10-0{d}" for d in range(1, 7)]
    assert chart["messages"]["sent"] == [0, 0, 0, 0, 0, 1, 3]
    assert chart["messages"]["failed"] == [0, 0, 0, 0, 0, 0, 1]
    assert chart["messages"]["received"] == [0, 0, 0, 0, 0, 0, 1]
    assert chart["response_time"] == [None, None, None, None, None, 10.0, 60.0]  # median of 60, 30 and 60 s
    assert chart["failure_reasons"] == [{"reason": "not on WhatsApp", "count": 1}]
    assert chart["top_contacts"][0] == {"chat": A, "phone": "6281200000001", "sent": 4, "received": 1, "total": 5}
    assert chart["top_contacts"][1]["chat"] == B and chart["top_contacts"][1]["total"] == 3
    [usage] = chart["api_usage"]  # key 8 is not in the database: its count is not shown
    assert usage["id"] == 7 and usage["changes"] == 1 and usage["last_used_at"].startswith("2025-10-05T17:29")
    assert usage["requests"] == 42

    unreachable = redis_client("redis://127.0.0.1:1/0")  # nothing listens there: the count is unknown, not 0
    try:
        async with db() as s:
            blind = await metrics.charts(s, unreachable, settings, range_name="week", tenant_id=None, now=NOW)
    finally:
        await unreachable.aclose(close_connection_pool=True)
    assert blind["api_usage"][0]["requests"] is None and blind["messages"] == chart["messages"]


async def test_day_chart_is_hourly_and_month_has_30_days(db: Db, settings: Settings, arranged: None,
                                                          redis: Redis) -> None:
    await key_requests.add(redis, {7: 3}, at(16, 59))  # in the last 24 hours
    await key_requests.add(redis, {7: 20}, at(16, 59, day=4))  # 24 h and 31 min ago: the month's only
    async with db() as s:
        day = await metrics.charts(s, redis, settings, range_name="day", tenant_id=None, now=NOW)
        month = await metrics.charts(s, redis, settings, range_name="month", tenant_id=None, now=NOW)
    assert day["bucket"] == "hour" and len(day["labels"]) == 24 and day["labels"][-1] == "2025-10-06T00:00"
    assert day["messages"]["sent"][-2:] == [1, 3]
    assert month["bucket"] == "day" and len(month["labels"]) == 30 and month["labels"][-1] == "2025-10-06"
    assert sum(month["messages"]["sent"]) == 4
    assert day["api_usage"][0]["requests"] == 3 and month["api_usage"][0]["requests"] == 23


async def test_a_session_cards_sent_today_is_the_metrics_sent_today(client: TestClient, rows: Rows) -> None:
    await rows.session("s9")
    now = datetime.now(UTC)
    await rows.add(out(A, now, session="s9", status=MessageStatus.SENT, sent_at=now),
                   out(A, now, session="s9", status=MessageStatus.QUEUED),
                   Message(session_id="s9", direction=Direction.INBOUND, chat_jid=A, created_at=now,
                           status=MessageStatus.READ))
    admin = await rows.key(Role.ADMIN)
    listed = (await (await client.get("/api/sessions", headers=admin)).json())["data"]
    stats = (await (await client.get("/api/dashboard/stats", headers=admin)).json())["data"]
    assert [(s["id"], s["sent_today"]) for s in listed] == [("s9", 1)]
    assert stats["messages_sent_today"] == 1 and stats["sessions"][0]["sent_today"] == 1
    assert stats["queue"]["length"] == 1


async def test_routes(client: TestClient, rows: Rows) -> None:
    await rows.session("s1")
    viewer = await rows.key(Role.USER)
    response = await client.get("/api/dashboard/stats", headers=viewer)
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert data["sessions"][0]["id"] == "s1" and data["messages_sent_today"] == 0 and data["success_rate"] is None
    for value in ("day", "week", "month"):
        response = await client.get("/api/dashboard/charts", params={"range": value}, headers=viewer)
        assert response.status == 200 and (await response.json())["data"]["range"] == value
    assert (await client.get("/api/dashboard/charts", params={"range": "year"}, headers=viewer)).status == 400


async def test_requests_per_key_are_counted_from_real_use(client: TestClient, rows: Rows) -> None:
    busy, idle = await rows.key(Role.USER), await rows.key(Role.USER)
    for _ in range(5):
        assert (await client.get("/api/dashboard/stats", headers=busy)).status == 200
    assert (await client.get("/api/dashboard/stats", headers=idle)).status == 200
    await client.app[KEY_USAGE].flush()  # what the web process does once a minute and when it stops
    response = await client.get("/api/dashboard/charts", params={"range": "day"}, headers=idle)
    usage = {k["prefix"]: k["requests"] for k in (await response.json())["data"]["api_usage"]}
    # The chart's own request is counted at the next flush.
    assert usage == {busy["x-api-key"][:12]: 5, idle["x-api-key"][:12]: 1}, usage
    assert (await client.get("/api/dashboard/stats")).status == 401
