"""Webhooks: create, change, rotate and delete them (audited), list their deliveries, redeliver, send a test.

A webhook is global (no tenant, no session), a tenant's, or one session's. A caller bound to a tenant
(`scope_tenant`) sees and makes only that tenant's webhooks. The secret is generated when not given, stored
encrypted (wagate.services.webhooks.secrets_box) and returned only by create and rotate. Rows that mirror a session's
settings (see wagate.services.webhooks.fanout) change with those settings; here only their secret rotates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver
from arq.connections import ArqRedis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from wagate.config import Settings
from wagate.db.enums import ActorType, DeliveryStatus, SignatureScheme, WebhookFormat
from wagate.db.models_delivery import Webhook, WebhookDelivery
from wagate.db.models_whatsapp import WaSession
from wagate.db.types import utcnow
from wagate.errors import Conflict, Invalid, NotFound
from wagate.services.events import new_event_id
from wagate.services.operations import audit
from wagate.services.webhooks import secrets_box
from wagate.services.webhooks.delivery import DueAttempt, enqueue_attempts
from wagate.services.webhooks.fanout import SESSION_FORMAT_KEY, SESSION_SETTINGS_WEBHOOK
from wagate.services.webhooks.ssrf import check_saved_url

TEST_EVENT = "webhook.test"
PAGE_SIZE = 50
REDELIVERABLE = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.EXHAUSTED)
EDITABLE = ("url", "events", "signature_scheme", "format", "is_active", "description")


class Actor(Protocol):
    """Who asks (wagate.services.identity.principal.Principal satisfies it)."""

    @property
    def actor_type(self) -> ActorType: ...

    @property
    def actor_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Caller:
    actor: Actor
    scope_tenant: int | None = None  # None: every tenant (global admins)
    ip: str | None = None


def redact_url(url: str) -> str:
    """Scheme and host only, for audits and logs: webhook URLs often carry a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def as_dict(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id, "tenant_id": webhook.tenant_id, "session_id": webhook.session_id, "url": webhook.url,
        "events": webhook.events, "signature_scheme": webhook.signature_scheme.value,
        "format": str(webhook.format), "is_active": webhook.is_active,
        "description": webhook.description, "managed_by_session_settings": _mirrors_settings(webhook),
        "created_at": webhook.created_at.isoformat(), "updated_at": webhook.updated_at.isoformat(),
    }


def delivery_dict(d: WebhookDelivery, *, attempts: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": d.id, "webhook_id": d.webhook_id, "event_id": d.event_id, "event": d.event, "status": d.status.value,
        "attempts": d.attempts, "next_attempt_at": d.next_attempt_at and d.next_attempt_at.isoformat(),
        "last_status_code": d.last_status_code, "last_error": d.last_error, "last_duration_ms": d.last_duration_ms,
        "delivered_at": d.delivered_at and d.delivered_at.isoformat(), "created_at": d.created_at.isoformat(),
    }
    if attempts:
        out["payload"] = d.payload
        out["attempt_log"] = [{"attempt": a.attempt, "status_code": a.status_code, "duration_ms": a.duration_ms,
                               "error": a.error, "at": a.created_at.isoformat()} for a in d.attempt_log]
    return out


def _mirrors_settings(webhook: Webhook) -> bool:
    return webhook.session_id is not None and webhook.description == SESSION_SETTINGS_WEBHOOK


def _audit(db: AsyncSession, caller: Caller, action: str, webhook: Webhook, details: dict[str, Any] | None = None
           ) -> None:
    audit.record(db, actor_type=caller.actor.actor_type, actor_id=caller.actor.actor_id, action=action,
                 target_type="webhook", target_id=webhook.id, tenant_id=webhook.tenant_id, ip=caller.ip,
                 details=details)


async def _check_url(settings: Settings, caller: Caller, url: str, resolver: AbstractResolver | None) -> None:
    await check_saved_url(url, allow_private=settings.webhook_allow_private, ip=caller.ip, resolver=resolver)


async def _owned(db: AsyncSession, caller: Caller, webhook_id: int) -> Webhook:
    webhook = await db.get(Webhook, webhook_id)
    if webhook is None or (caller.scope_tenant is not None and webhook.tenant_id != caller.scope_tenant):
        raise NotFound("Webhook not found")
    return webhook


async def create_webhook(db_factory: async_sessionmaker[AsyncSession], settings: Settings, caller: Caller,
                         data: dict[str, Any], *, resolver: AbstractResolver | None = None) -> tuple[Webhook, str]:
    """Validated `data` (wagate.schemas.webhooks) → the stored webhook and its plaintext secret, shown once."""
    await _check_url(settings, caller, data["url"], resolver)
    tenant_id = caller.scope_tenant if caller.scope_tenant is not None else data.get("tenant_id")
    secret = data.get("secret") or secrets_box.new_secret()
    async with db_factory() as db, db.begin():
        session_id = data.get("session_id")
        if session_id is not None:
            session = await db.get(WaSession, session_id)
            if session is None or (tenant_id is not None and session.tenant_id != tenant_id):
                raise Invalid("Invalid webhook", {"session_id": ["no such session"]})
        webhook = Webhook(tenant_id=tenant_id, session_id=session_id, url=data["url"], events=data["events"],
                          secret_encrypted=secrets_box.encrypt(settings.encryption_key, secret),
                          signature_scheme=data.get("signature_scheme", SignatureScheme.WAGATE),
                          format=data.get("format", WebhookFormat.WAGATE),
                          is_active=data.get("is_active", True), description=data.get("description"))
        db.add(webhook)
        await db.flush()
        _audit(db, caller, "webhook.create", webhook, {"url": redact_url(webhook.url), "events": webhook.events,
                                                       "session_id": session_id})
    return webhook, secret


async def list_webhooks(db_factory: async_sessionmaker[AsyncSession], caller: Caller) -> list[Webhook]:
    query = select(Webhook).order_by(Webhook.id)
    if caller.scope_tenant is not None:
        query = query.where(Webhook.tenant_id == caller.scope_tenant)
    async with db_factory() as db:
        return list(await db.scalars(query))


async def get_webhook(db_factory: async_sessionmaker[AsyncSession], caller: Caller, webhook_id: int) -> Webhook:
    async with db_factory() as db:
        return await _owned(db, caller, webhook_id)


async def update_webhook(db_factory: async_sessionmaker[AsyncSession], settings: Settings, caller: Caller,
                         webhook_id: int, changes: dict[str, Any], *, resolver: AbstractResolver | None = None
                         ) -> Webhook:
    if "url" in changes:
        await _check_url(settings, caller, changes["url"], resolver)
    async with db_factory() as db, db.begin():
        webhook = await _owned(db, caller, webhook_id)
        if _mirrors_settings(webhook):
            if set(changes) - {"format"}:
                raise Conflict("This webhook follows its session's settings; change those instead (only its format "
                               "can be changed here)")
            await _set_session_format(db, webhook, changes["format"])
        for name in EDITABLE:
            if name in changes:
                setattr(webhook, name, changes[name])
        await db.flush()
        shown = {k: (redact_url(v) if k == "url" else v) for k, v in changes.items() if k in EDITABLE}
        _audit(db, caller, "webhook.update", webhook, shown)
    return webhook


async def _set_session_format(db: AsyncSession, webhook: Webhook, body_format: WebhookFormat) -> None:
    """A session settings webhook's format is one of the session's settings: it is written there, or fan-out would
    set it back."""
    session = await db.get(WaSession, webhook.session_id)
    if session is not None:
        session.settings = {**(session.settings or {}), SESSION_FORMAT_KEY: str(body_format)}


async def delete_webhook(db_factory: async_sessionmaker[AsyncSession], caller: Caller, webhook_id: int) -> None:
    async with db_factory() as db, db.begin():
        webhook = await _owned(db, caller, webhook_id)
        if _mirrors_settings(webhook):
            raise Conflict("This webhook follows its session's settings; clear the session's webhook_url instead")
        _audit(db, caller, "webhook.delete", webhook, {"url": redact_url(webhook.url)})
        await db.delete(webhook)


async def rotate_secret(db_factory: async_sessionmaker[AsyncSession], settings: Settings, caller: Caller,
                        webhook_id: int) -> str:
    """A new secret, effective for the next attempt; the old one stops verifying at once."""
    secret = secrets_box.new_secret()
    token = secrets_box.encrypt(settings.encryption_key, secret)
    async with db_factory() as db, db.begin():
        webhook = await _owned(db, caller, webhook_id)
        webhook.secret_encrypted = token
        if _mirrors_settings(webhook):
            await db.execute(update(WaSession).where(WaSession.id == webhook.session_id)
                             .values(webhook_secret_encrypted=token))
        _audit(db, caller, "webhook.rotate_secret", webhook)
    return secret


async def list_deliveries(db_factory: async_sessionmaker[AsyncSession], caller: Caller, webhook_id: int, *,
                          status: DeliveryStatus | None = None, page: int = 1, per_page: int = PAGE_SIZE
                          ) -> tuple[list[WebhookDelivery], int]:
    async with db_factory() as db:
        await _owned(db, caller, webhook_id)
        where = [WebhookDelivery.webhook_id == webhook_id]
        if status is not None:
            where.append(WebhookDelivery.status == status)
        total = await db.scalar(select(func.count()).select_from(WebhookDelivery).where(*where)) or 0
        rows = await db.scalars(select(WebhookDelivery).where(*where)
                                .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
                                .limit(per_page).offset((page - 1) * per_page))
        return list(rows), total


async def get_delivery(db_factory: async_sessionmaker[AsyncSession], caller: Caller, delivery_id: int
                       ) -> WebhookDelivery:
    async with db_factory() as db:
        delivery = await db.get(WebhookDelivery, delivery_id, options=[selectinload(WebhookDelivery.attempt_log)])
        if delivery is None:
            raise NotFound("Delivery not found")
        await _owned(db, caller, delivery.webhook_id)
        return delivery


async def _redeliver(db: AsyncSession, redis: ArqRedis, deliveries: Sequence[WebhookDelivery]) -> list[DueAttempt]:
    now = utcnow()
    for delivery in deliveries:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.PENDING, now
    await db.flush()
    return [DueAttempt(d.id, d.attempts + 1) for d in deliveries]


async def redeliver(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, caller: Caller,
                    delivery_id: int) -> WebhookDelivery:
    """Attempt a finished delivery again now. Past the horizon a redelivery gets that one attempt."""
    async with db_factory() as db, db.begin():
        delivery = await db.get(WebhookDelivery, delivery_id)
        if delivery is None:
            raise NotFound("Delivery not found")
        webhook = await _owned(db, caller, delivery.webhook_id)
        if delivery.status not in REDELIVERABLE:
            raise Conflict(f"The delivery is {delivery.status.value}; it is already being attempted")
        due = await _redeliver(db, redis, [delivery])
        _audit(db, caller, "webhook.redeliver", webhook, {"delivery_id": delivery_id})
    await enqueue_attempts(redis, due)
    return delivery


async def redeliver_all(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, caller: Caller,
                        webhook_id: int, status: DeliveryStatus, *, limit: int = 10_000) -> int:
    if status not in (DeliveryStatus.FAILED, DeliveryStatus.EXHAUSTED):
        raise Invalid("Invalid status", {"status": ["expects failed or exhausted"]})
    async with db_factory() as db, db.begin():
        webhook = await _owned(db, caller, webhook_id)
        deliveries = list(await db.scalars(select(WebhookDelivery).where(
            WebhookDelivery.webhook_id == webhook_id, WebhookDelivery.status == status).limit(limit)))
        due = await _redeliver(db, redis, deliveries)
        _audit(db, caller, "webhook.redeliver_bulk", webhook, {"status": status.value, "count": len(due)})
    await enqueue_attempts(redis, due)
    return len(due)


async def send_test(db_factory: async_sessionmaker[AsyncSession], redis: ArqRedis, caller: Caller,
                    webhook_id: int) -> WebhookDelivery:
    """A `webhook.test` event delivered to this webhook only, with the same signing, retries and log."""
    async with db_factory() as db, db.begin():
        webhook = await _owned(db, caller, webhook_id)
        body = {"id": new_event_id(), "event": TEST_EVENT, "timestamp": int(time.time()),
                "session": webhook.session_id, "data": {"webhook_id": webhook.id, "message": "WA-Gate test event"}}
        delivery = WebhookDelivery(webhook_id=webhook.id, event_id=body["id"], event=TEST_EVENT,
                                   payload=json.dumps(body, separators=(",", ":")), status=DeliveryStatus.PENDING,
                                   next_attempt_at=utcnow())
        db.add(delivery)
        await db.flush()
        _audit(db, caller, "webhook.test", webhook, {"delivery_id": delivery.id})
    await enqueue_attempts(redis, [DueAttempt(delivery.id, 1)])
    return delivery
