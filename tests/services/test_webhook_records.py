"""Attempt outcomes that finish together are committed together, each caller answered for its own row."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from tests.services.webhook_receiver import ADMIN, webhook_settings
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus
from wagate.db.models_delivery import WebhookAttempt, WebhookDelivery
from wagate.services.webhooks import endpoints
from wagate.services.webhooks.records import AttemptRecord, AttemptRecords

N = 20


async def claimed_deliveries(db: Any, settings: Settings) -> list[int]:
    """N deliveries whose first attempt is being made (claimed, as `Delivery.attempt` leaves them)."""
    settings = webhook_settings(settings.data_dir.parent, settings.database_url, settings.redis_url or "")
    webhook, _ = await endpoints.create_webhook(db, settings, ADMIN, {"url": "http://127.0.0.1:9/h", "events": "*"})
    async with db() as session, session.begin():
        rows = [WebhookDelivery(webhook_id=webhook.id, event_id=f"evt_{n:024d}", event="message.sent", payload="{}",
                                status=DeliveryStatus.DELIVERING, attempts=1) for n in range(N)]
        session.add_all(rows)
        await session.flush()
        return [r.id for r in rows]


def delivered(delivery_id: int) -> AttemptRecord:
    return AttemptRecord(delivery_id, 1, DeliveryStatus.DELIVERED, None, 200, None, 3)


async def test_outcomes_finishing_together_share_a_commit(db: Any, settings: Settings) -> None:
    ids = await claimed_deliveries(db, settings)
    engine = db.kw["bind"].sync_engine
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    event.listen(engine, "commit", count)
    try:
        records = AttemptRecords(db)
        answers = await asyncio.gather(*(records.write(delivered(i)) for i in ids))
    finally:
        event.remove(engine, "commit", count)
    assert answers == [None] * N
    async with db() as session:
        statuses = list(await session.scalars(select(WebhookDelivery.status)))
        attempts = list(await session.scalars(select(WebhookAttempt.delivery_id)))
    assert statuses == [DeliveryStatus.DELIVERED] * N and sorted(attempts) == sorted(ids)
    assert len(commits) <= 3  # the first write alone, the others together (not one commit per attempt)


async def test_a_bad_row_fails_alone(db: Any, settings: Settings) -> None:
    ids = await claimed_deliveries(db, settings)
    async with db() as session, session.begin():  # attempt 1 of the 6th is recorded already: its write must fail
        session.add(WebhookAttempt(delivery_id=ids[5], attempt=1, status_code=200, duration_ms=1))
    records = AttemptRecords(db)
    answers = await asyncio.gather(*(records.write(delivered(i)) for i in ids), return_exceptions=True)
    assert [i for i, answer in zip(ids, answers, strict=True) if answer is not None] == [ids[5]]
    assert isinstance(answers[5], IntegrityError)
    async with db() as session:
        statuses = dict((await session.execute(select(WebhookDelivery.id, WebhookDelivery.status))).all())
        attempts = list(await session.scalars(select(WebhookAttempt.delivery_id)))
    assert [statuses[i] for i in ids if i != ids[5]] == [DeliveryStatus.DELIVERED] * (N - 1)
    assert statuses[ids[5]] == DeliveryStatus.DELIVERING  # its own transaction was rolled back whole
    assert sorted(attempts) == sorted(ids)
