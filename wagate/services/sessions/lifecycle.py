"""WhatsApp sessions seen from the web side: create, configure, delete, and ask the bridge to act on them.

The bridge is the only writer of a session's `status`; this module writes rows and enqueues bridge jobs
(`session_command`, `simulator_control`) on the session's shard queue, nothing more. Callers pass
`tenant_id=None` for an install-wide caller (admin, global internal key) who may touch every session.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate import session_ids
from wagate.config import Settings
from wagate.db.enums import HISTORY_SYNC_MODES, ActorType, SessionStatus
from wagate.db.models_identity import Tenant
from wagate.db.models_whatsapp import WaSession
from wagate.errors import Conflict, Forbidden, Invalid, NotFound, OtherTenant, ServiceUnavailable
from wagate.queue import jobs
from wagate.queue.names import bridge_queue, qr_key
from wagate.services import events
from wagate.services.events import EVENT_NAMES
from wagate.services.identity import subscription
from wagate.services.identity.credentials import hash_token, new_token
from wagate.services.operations import audit
from wagate.services.sessions import registry
from wagate.services.webhooks import ssrf
from wagate.transport.simulator.groups import MEMBER_ACTIONS

log = structlog.get_logger("wagate.sessions")
T = TypeVar("T")

Sessions = async_sessionmaker[AsyncSession]

NAME_MAX = 191  # wa_sessions.name
WEBHOOK_URL_MAX = 2048  # wa_sessions.webhook_url
# Commands a caller may request; `delete` goes through delete_session so the row and the job stay in step.
COMMANDS = ("start", "stop", "restart", "logout", "pair_phone", "sync_contacts")
# These make the bridge connect to WhatsApp, which an expired subscription no longer pays for.
CONNECTING_COMMANDS = frozenset({"start", "restart", "pair_phone"})
SETTINGS_FIELDS = ("name", "auto_read_enabled", "typing_enabled", "webhook_url", "webhook_events", "webhook_format",
                   "history_sync", "media_download")
JSON_SETTINGS = ("webhook_format", "history_sync", "media_download")  # kept in the settings JSON, not in columns
MEDIA_DOWNLOADS = ("arrival", "on_request")  # when a received medium is downloaded: as it arrives, or when first asked
WEBHOOK_FORMATS = ("wagate", "wuzapi")  # the body the session's webhook receives (see services.webhooks.formats)
ALL_EVENTS = "*"
# Event names of the seed API (genfity-wa / wuzapi) → the gateway's own; matched case-insensitively.
SEED_EVENTS: dict[str, tuple[str, ...]] = {
    "all": (ALL_EVENTS,),
    "message": ("message.received",),
    "readreceipt": ("message.delivered", "message.read"),
    "connected": ("connection.open",),
    "disconnected": ("connection.close",),
    "qr": ("qr.generated",),
    "loggedout": ("session.status",),
}
# The phone side of the simulator, by the PhoneSide method the bridge calls; params are its keyword arguments.
SIMULATOR_ACTIONS = (
    "scan", "enter_pair_code", "inject_message", "drop_connection", "unlink_from_phone", "set_send_failure",
    "set_not_on_whatsapp", "contact_sends", "contact_reacts", "contact_edits", "contact_revokes", "contact_votes",
    "contact_presence", "phone_sends_history", *MEMBER_ACTIONS, "set_send_limit", "go_silent",
)
# `set_not_on_whatsapp` concerns a phone, not a session: it goes to every shard under this session id.
EVERY_SESSION = "*"
PHONE_RULE = "expects an international number with its country code, 8-15 digits"
_PHONE_PUNCTUATION = re.compile(r"[\s+\-().]")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, as the audit log records it."""

    type: ActorType
    id: str | int | None = None
    ip: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session: WaSession
    token: str = field(repr=False)  # shown once; only its SHA-256 is stored
    start_job_id: str | None = None  # None: not asked to connect, or Redis refused the job (start it later)


async def create_session(
    db: Sessions,
    redis: ArqRedis,
    settings: Settings,
    *,
    tenant_id: int | None,
    session_id: str | None = None,
    name: Any,  # checked here, as every field of the request
    auto_connect: bool = True,
    auto_read_enabled: bool = False,
    typing_enabled: bool = False,
    webhook_url: str | None = None,
    webhook_events: str | Sequence[str] | None = None,
    history_sync: str | None = None,
    actor: Actor,
) -> CreatedSession:
    """A new `STOPPED` session with a fresh token; with `auto_connect`, the bridge is then asked to start it."""
    problems: dict[str, list[str]] = {}
    if session_id is not None and not session_ids.is_valid(session_id):
        problems["session_id"] = [session_ids.RULE]
    session_id = session_id or f"ses_{secrets.token_hex(10)}"
    name = _check_name(session_id if name is None else name, problems)  # unnamed, a session goes by its id
    webhook_url = _check_webhook_url(webhook_url, problems)
    events = _check_events(webhook_events, problems)
    if history_sync is not None and history_sync not in HISTORY_SYNC_MODES:
        problems["history_sync"] = [f"expects one of {', '.join(HISTORY_SYNC_MODES)}"]
    if problems:
        raise Invalid("Invalid session", problems)
    await _check_destination(settings, webhook_url, actor)
    token = new_token()
    try:
        async with db() as s, s.begin():
            if tenant_id is not None:
                await _lock_tenant_quota(s, tenant_id)
            if await s.get(WaSession, session_id) is not None:
                raise Conflict(f"session {session_id!r} already exists")
            row = WaSession(
                id=session_id, tenant_id=tenant_id, name=name, token_hash=hash_token(token),
                status=SessionStatus.STOPPED, auto_read_enabled=auto_read_enabled, typing_enabled=typing_enabled,
                webhook_url=webhook_url, webhook_events=events,
                settings={"history_sync": history_sync} if history_sync is not None else None,
            )
            s.add(row)
            await s.flush()
            audit.record(
                s, **_who(actor), action="session.create", target_type="session", target_id=session_id,
                tenant_id=tenant_id, details={
                    "name": name, "auto_connect": auto_connect, "auto_read_enabled": auto_read_enabled,
                    "typing_enabled": typing_enabled, "webhook_url": _redact_url(webhook_url),
                    "webhook_events": events, **({"history_sync": history_sync} if history_sync else {}),
                },
            )
    except IntegrityError as exc:  # another request created the same id between our check and our insert
        raise Conflict(f"session {session_id!r} already exists") from exc
    await registry.remember(settings, session_id, token, row.created_at)
    start_job_id = None
    if auto_connect:
        try:
            start_job_id = await jobs.enqueue_session_command(redis, settings.bridge_shards, session_id, "start")
        except (RedisError, OSError):
            # The session exists and its token is only in this answer: failing now would lose the token.
            log.warning("session created but its start was not queued", session_id=session_id, exc_info=True)
    return CreatedSession(session=row, token=token, start_job_id=start_job_id)


async def request(
    db: Sessions,
    redis: ArqRedis,
    settings: Settings,
    session_id: str,
    command: str,
    *,
    tenant_id: int | None = None,
    actor: Actor,
    params: Mapping[str, Any] | None = None,
) -> str:
    """Ask the session's bridge to `start | stop | restart | logout | pair_phone | sync_contacts`; the job id."""
    if command not in COMMANDS:
        raise Invalid(f"unknown session command {command!r}", {"command": [f"expects one of {', '.join(COMMANDS)}"]})
    job_params: dict[str, Any] = {}
    if command == "pair_phone":
        phone = (params or {}).get("phone")
        digits = phone_digits(phone) if isinstance(phone, str) else None
        if digits is None:
            raise Invalid("Invalid phone", {"phone": [PHONE_RULE]})
        job_params["phone"] = digits
    async with db() as s, s.begin():
        row = await _owned(s, session_id, tenant_id)
        if command in CONNECTING_COMMANDS and row.tenant_id is not None:
            _check_subscription(await s.get(Tenant, row.tenant_id))
        # Queued before the audit commits, so the log names exactly the commands that reached the bridge.
        job_id = await _enqueue(jobs.enqueue_session_command(redis, settings.bridge_shards, session_id, command,
                                                             job_params))
        audit.record(s, **_who(actor), action=f"session.{command}", target_type="session", target_id=session_id,
                     tenant_id=row.tenant_id, details={"job_id": job_id, **job_params})
    return job_id


async def delete_session(
    db: Sessions, redis: ArqRedis, settings: Settings, session_id: str, *, tenant_id: int | None = None, actor: Actor
) -> str:
    """Remove the session (its messages stay, unlinked), then ask its bridge to log out and drop the keys."""
    async with db() as s, s.begin():
        row = await _owned(s, session_id, tenant_id)
        await s.execute(delete(WaSession).where(WaSession.id == session_id))
        audit.record(s, **_who(actor), action="session.delete", target_type="session", target_id=session_id,
                     tenant_id=row.tenant_id, details={"name": row.name, "phone": row.phone})
    await registry.forget(settings, session_id)
    await _announce_deleted(redis, row, session_id)
    # After the commit, so the bridge never sees a half-deleted session; if Redis refuses, say so loudly:
    # the row is gone and only the bridge can still unlink the phone.
    try:
        return await jobs.enqueue_session_command(redis, settings.bridge_shards, session_id, "delete")
    except (RedisError, OSError) as exc:
        log.error("session deleted but its bridge was not told to unlink it", session_id=session_id, exc_info=True)
        raise ServiceUnavailable(
            "Session deleted, but the bridge could not be told to log the device out; it will not be linked "
            "again, and its keys are removed when the bridge next cleans up", {"session_id": session_id},
        ) from exc


async def _announce_deleted(redis: ArqRedis, row: WaSession, session_id: str) -> None:
    """Tell dashboards and webhooks the session is gone: its last `session.status`, `deleted: true`. The bridge
    publishes nothing for a session whose row is gone, so without this a list shown elsewhere would keep it."""
    event = events.envelope("session.status", session_id, {
        "status": SessionStatus.LOGGED_OUT.value, "previous": row.status.value, "reason": "session deleted",
        "deleted": True})
    try:
        await events.publish(redis, row.tenant_id, event)
    except (RedisError, OSError):  # the row is the truth; the next read of the list no longer has it
        log.warning("session deleted but its status event was not published", session_id=session_id)


async def update_settings(
    db: Sessions, session_id: str, changes: Mapping[str, Any], *, settings: Settings, tenant_id: int | None = None,
    actor: Actor,
) -> WaSession:
    """Change some of `name`, `auto_read_enabled`, `typing_enabled`, `webhook_url`, `webhook_events`,
    `webhook_format`, `history_sync`, `media_download`."""
    problems: dict[str, list[str]] = {}
    for key in changes:
        if key not in SETTINGS_FIELDS:
            problems[key] = ["is not a session setting"]
    clean: dict[str, Any] = {}
    if "name" in changes:
        clean["name"] = _check_name(changes["name"], problems)
    for flag in ("auto_read_enabled", "typing_enabled"):
        if flag in changes:
            if isinstance(changes[flag], bool):
                clean[flag] = changes[flag]
            else:
                problems[flag] = ["expects true or false"]
    if "webhook_url" in changes:
        clean["webhook_url"] = _check_webhook_url(changes["webhook_url"], problems)
    if "webhook_events" in changes:
        clean["webhook_events"] = _check_events(changes["webhook_events"], problems)
    if "webhook_format" in changes and changes["webhook_format"] not in WEBHOOK_FORMATS:
        problems["webhook_format"] = [f"expects one of {', '.join(WEBHOOK_FORMATS)}"]
    if "history_sync" in changes and changes["history_sync"] not in HISTORY_SYNC_MODES:
        problems["history_sync"] = [f"expects one of {', '.join(HISTORY_SYNC_MODES)}"]
    if "media_download" in changes and changes["media_download"] not in MEDIA_DOWNLOADS:
        problems["media_download"] = [f"expects one of {', '.join(MEDIA_DOWNLOADS)}"]
    if problems:
        raise Invalid("Invalid session settings", problems)
    await _check_destination(settings, clean.get("webhook_url"), actor)
    async with db() as s, s.begin():
        row = await _owned(s, session_id, tenant_id)
        changed = {key: value for key, value in clean.items() if getattr(row, key) != value}
        for key, value in changed.items():
            setattr(row, key, value)
        for key in JSON_SETTINGS:
            if key in changes and (row.settings or {}).get(key) != changes[key]:
                # A column of its own would need every reader of settings to know it; the JSON holds the rest.
                row.settings = {**(row.settings or {}), key: changes[key]}
                changed[key] = changes[key]
        if changed:
            if "webhook_url" in changed:
                changed["webhook_url"] = _redact_url(changed["webhook_url"])
            audit.record(s, **_who(actor), action="session.update", target_type="session", target_id=session_id,
                         tenant_id=row.tenant_id, details={"changed": changed})
    return row


async def rotate_token(db: Sessions, session_id: str, *, tenant_id: int | None = None, actor: Actor,
                       settings: Settings | None = None) -> str:
    """A new per-session token, returned once; the old one stops working at once.

    Pass `settings` so the device registry file gets the new token.
    """
    token = new_token()
    async with db() as s, s.begin():
        row = await _owned(s, session_id, tenant_id)
        row.token_hash = hash_token(token)
        audit.record(s, **_who(actor), action="session.token_rotate", target_type="session", target_id=session_id,
                     tenant_id=row.tenant_id)
    if settings is not None:
        await registry.remember(settings, session_id, token)
    return token


async def get_session(db: Sessions, session_id: str, *, tenant_id: int | None = None) -> WaSession:
    async with db() as s:
        return await _owned(s, session_id, tenant_id)


async def list_sessions(
    db: Sessions, *, tenant_id: int | None = None, status: SessionStatus | str | None = None
) -> list[WaSession]:
    query = select(WaSession).order_by(WaSession.created_at, WaSession.id)
    if tenant_id is not None:
        query = query.where(WaSession.tenant_id == tenant_id)
    if status is not None:
        try:
            query = query.where(WaSession.status == SessionStatus(status))
        except ValueError as exc:
            choices = ", ".join(SessionStatus)
            raise Invalid(f"unknown status {status!r}", {"status": [f"expects one of {choices}"]}) from exc
    async with db() as s:
        return list(await s.scalars(query))


async def current_qr(redis: ArqRedis, session_id: str) -> dict[str, Any] | None:
    """The QR code the bridge shows now (`{"code", "expires_at"}`), or None when there is none."""
    raw = await redis.get(qr_key(session_id))
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        log.warning("unreadable QR code in Redis", session_id=session_id)
        return None
    return value if isinstance(value, dict) and value.get("code") else None


async def control_simulator(
    db: Sessions, redis: ArqRedis, settings: Settings, session_id: str, action: str, params: Mapping[str, Any]
) -> str:
    """Play the phone of a simulated session: enqueue the action for the bridge that holds the session."""
    if action not in SIMULATOR_ACTIONS or action == "set_not_on_whatsapp":
        raise Invalid(f"unknown simulator action {action!r}")
    async with db() as s:
        await _owned(s, session_id, None)
    return await _enqueue(jobs.enqueue_simulator_control(redis, settings.bridge_shards, session_id, action,
                                                         dict(params)))


async def set_not_on_whatsapp(redis: ArqRedis, settings: Settings, phone: str, not_on: bool = True) -> list[str]:
    """Every shard's simulator treats `phone` as not on WhatsApp (or on it again); one job per shard."""
    digits = phone_digits(phone)
    if digits is None:
        raise Invalid("Invalid phone", {"phone": [PHONE_RULE]})
    job_ids = []
    for shard in range(settings.bridge_shards):
        job_id = f"sim:{EVERY_SESSION}:set_not_on_whatsapp:{shard}:{secrets.token_hex(6)}"
        await _enqueue(redis.enqueue_job(
            jobs.SIMULATOR_CONTROL, EVERY_SESSION, "set_not_on_whatsapp", {"phone": digits, "not_on": not_on},
            _job_id=job_id, _queue_name=bridge_queue(shard),
        ))
        job_ids.append(job_id)
    return job_ids


def normalize_events(value: str | Sequence[str] | None) -> list[str] | None:
    """Gateway event names from a list or a comma string, seed names mapped; `["*"]` for every event."""
    problems: dict[str, list[str]] = {}
    events = _check_events(value, problems)
    if problems:
        raise Invalid("Invalid webhook events", problems)
    return events


def is_expired(tenant: Tenant, now: datetime | None = None) -> bool:
    return subscription.is_expired(tenant.status, tenant.expires_at, now)


async def _lock_tenant_quota(s: AsyncSession, tenant_id: int) -> None:
    """Serialize session creation per tenant so two requests cannot both take the last free slot.

    A no-op UPDATE is the one lock both engines honour: InnoDB locks the row until commit, and SQLite
    (whose transactions begin at the first write here) takes its write lock before the count below.
    """
    await s.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(updated_at=Tenant.updated_at)
        .execution_options(synchronize_session=False)
    )
    tenant = await s.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} not found")
    _check_subscription(tenant)
    if tenant.max_sessions is not None:
        count = await s.scalar(select(func.count()).select_from(WaSession).where(WaSession.tenant_id == tenant_id))
        if (count or 0) >= tenant.max_sessions:
            raise Forbidden(f"session limit reached: the subscription allows {tenant.max_sessions} session(s)",
                            {"max_sessions": tenant.max_sessions, "sessions": count})


def _check_subscription(tenant: Tenant | None) -> None:
    if tenant is not None:
        subscription.check(tenant.status, tenant.expires_at)


async def _owned(s: AsyncSession, session_id: str, tenant_id: int | None) -> WaSession:
    row = await s.get(WaSession, session_id)
    if row is None:
        raise NotFound(f"session {session_id!r} not found")
    if tenant_id is not None and row.tenant_id != tenant_id:
        raise OtherTenant(f"session {session_id!r} not found", f"session {session_id!r} belongs to another tenant")
    return row


async def _enqueue(pending: Awaitable[T]) -> T:
    """Await an enqueue; a Redis outage becomes 503 rather than a bare 500."""
    try:
        return await pending
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("the job queue (Redis) is unavailable; try again shortly") from exc


def _who(actor: Actor) -> dict[str, Any]:
    return {"actor_type": actor.type, "actor_id": actor.id, "ip": actor.ip}


def _check_name(name: Any, problems: dict[str, list[str]]) -> str | None:
    if not isinstance(name, str) or not name.strip():
        problems["name"] = ["is required"]
        return None
    if len(name.strip()) > NAME_MAX:
        problems["name"] = [f"expects at most {NAME_MAX} characters"]
    return name.strip()


def _check_webhook_url(url: Any, problems: dict[str, list[str]]) -> str | None:
    if url is None or (isinstance(url, str) and not url.strip()):
        return None  # no per-session webhook
    if not isinstance(url, str):
        problems["webhook_url"] = ["expects a URL"]
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        problems["webhook_url"] = ["expects an http:// or https:// URL with a host"]
    elif len(url) > WEBHOOK_URL_MAX:
        problems["webhook_url"] = [f"expects at most {WEBHOOK_URL_MAX} characters"]
    return url


async def _check_destination(settings: Settings, url: str | None, actor: Actor) -> None:
    """A session's webhook URL passes the same save-time SSRF check as `POST /api/webhooks`."""
    if url is not None:
        await ssrf.check_saved_url(url, allow_private=settings.webhook_allow_private, field="webhook_url",
                                   ip=actor.ip)


def _check_events(value: Any, problems: dict[str, list[str]]) -> list[str] | None:
    if value is None:
        return None  # every event, the default
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Sequence) and all(isinstance(part, str) for part in value):
        names = [part.strip() for part in value if part.strip()]
    else:
        problems["webhook_events"] = ["expects a list of event names or a comma-separated string"]
        return None
    events: list[str] = []
    unknown = []
    for name in names:
        mapped = (name,) if name in EVENT_NAMES or name == ALL_EVENTS else SEED_EVENTS.get(name.lower())
        if mapped is None:
            unknown.append(name)
        else:
            events.extend(event for event in mapped if event not in events)
    if unknown:
        problems["webhook_events"] = [f"unknown event(s): {', '.join(unknown)}; expects * or {', '.join(EVENT_NAMES)}"]
    elif not events:
        problems["webhook_events"] = ["expects at least one event name, or *"]
    return [ALL_EVENTS] if ALL_EVENTS in events else events


def phone_digits(phone: str) -> str | None:
    """The digits of an international phone number, or None when it cannot be one."""
    digits = _PHONE_PUNCTUATION.sub("", phone)
    return digits if digits.isdigit() and digits.isascii() and 8 <= len(digits) <= 15 and digits[0] != "0" else None


def _redact_url(url: str | None) -> str | None:
    """Scheme and host only: webhook URLs often carry a token in their path or query."""
    if url is None:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
