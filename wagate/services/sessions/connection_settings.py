"""Saving a session's settings, including those kept apart from `lifecycle.update_settings`: its proxy (encrypted,
restarts the session) and its call policy. Everything is checked before anything is written."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from arq.connections import ArqRedis

from wagate.config import Settings
from wagate.db.models_whatsapp import WaSession
from wagate.errors import ServiceUnavailable
from wagate.services.sessions import call_policy, lifecycle, proxy
from wagate.services.sessions.lifecycle import Actor, Sessions


async def save(db: Sessions, redis: ArqRedis, settings: Settings, session_id: str, changes: Mapping[str, Any], *,
               tenant_id: int | None, actor: Actor) -> WaSession:
    rest = dict(changes)
    proxy_given = "proxy_url" in rest
    proxy_url = proxy.check_url(rest.pop("proxy_url", None))
    policy = call_policy.check({key: rest.pop(key) for key in call_policy.FIELDS if key in rest})
    if rest:
        await lifecycle.update_settings(db, session_id, rest, settings=settings, tenant_id=tenant_id, actor=actor)
    if policy:
        await call_policy.set_policy(db, session_id, policy, tenant_id=tenant_id, actor=actor)
    if proxy_given:
        await proxy.set_proxy(db, redis, settings, session_id, proxy_url, tenant_id=tenant_id, actor=actor)
    return await lifecycle.get_session(db, session_id, tenant_id=tenant_id)


async def create(db: Sessions, redis: ArqRedis, settings: Settings, values: Mapping[str, Any], *,
                 tenant_id: int | None, actor: Actor) -> lifecycle.CreatedSession:
    """A new session (`lifecycle.create_session`) with its proxy and call policy in place before it first connects."""
    proxy_url = proxy.check_url(values.get("proxy_url"))
    # The defaults (no rejecting, no message) are no policy to store: such a session is created as any other.
    policy = call_policy.check({key: values[key] for key in call_policy.FIELDS if values.get(key)})
    extras = proxy_url is not None or bool(policy)
    created = await lifecycle.create_session(
        db, redis, settings, tenant_id=tenant_id, session_id=values.get("session_id"), name=values.get("name"),
        auto_connect=values.get("auto_connect", True) and not extras,
        auto_read_enabled=values.get("auto_read_enabled", False), typing_enabled=values.get("typing_enabled", False),
        webhook_url=values.get("webhook_url"), webhook_events=values.get("webhook_events"),
        history_sync=values.get("history_sync"), actor=actor,
    )
    if not extras:
        return created
    session_id = created.session.id
    if policy:
        await call_policy.set_policy(db, session_id, policy, tenant_id=tenant_id, actor=actor)
    if proxy_url is not None:
        await proxy.set_proxy(db, redis, settings, session_id, proxy_url, tenant_id=tenant_id, actor=actor)
    start_job_id = None
    if values.get("auto_connect", True):
        with contextlib.suppress(ServiceUnavailable):  # the token is only in this answer: never lose it to Redis
            start_job_id = await lifecycle.request(db, redis, settings, session_id, "start", tenant_id=tenant_id,
                                                   actor=actor)
    row = await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    return lifecycle.CreatedSession(session=row, token=created.token, start_job_id=start_job_id)
