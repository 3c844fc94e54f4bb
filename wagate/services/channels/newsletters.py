"""Channels (newsletters): those a session follows, one channel's details, follow and unfollow. Answered by the
session's live connection (a call); a message to a channel the session owns is an ordinary send to its JID."""

from __future__ import annotations

import re
from typing import Any

from arq.connections import ArqRedis

from wagate.config import Settings
from wagate.errors import Invalid
from wagate.services.operations import audit
from wagate.services.sessions import calls, lifecycle
from wagate.services.sessions.lifecycle import Actor, Sessions

_JID = re.compile(r"^\d{5,25}@newsletter$")
_INVITE = re.compile(r"^(?:https?://)?(?:www\.)?whatsapp\.com/channel/([A-Za-z0-9_-]{6,64})/?$|^([A-Za-z0-9_-]{6,64})$")


def check_jid(value: Any) -> str:
    if not isinstance(value, str) or not _JID.match(value):
        raise Invalid("Invalid channel", {"jid": ["expects a channel JID: <digits>@newsletter"]})
    return value


def invite_code(value: Any) -> str:
    """The code of a channel invite, from the link (https://whatsapp.com/channel/<code>) or the bare code."""
    match = _INVITE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise Invalid("Invalid channel invite", {"invite": ["expects https://whatsapp.com/channel/<code> or the code"]})
    return match.group(1) or match.group(2)


async def followed(db: Sessions, redis: ArqRedis, settings: Settings, session_id: str, *,
                   tenant_id: int | None) -> list[dict[str, Any]]:
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    answer: list[dict[str, Any]] = await calls.call(db, redis, settings, session_id, "newsletters.list")
    return answer


async def info(db: Sessions, redis: ArqRedis, settings: Settings, session_id: str, *, tenant_id: int | None,
               jid: str | None = None, invite: str | None = None) -> dict[str, Any]:
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    params = {"jid": check_jid(jid)} if jid is not None else {"invite": invite_code(invite)}
    answer: dict[str, Any] = await calls.call(db, redis, settings, session_id, "newsletters.info", params)
    return answer


async def follow(db: Sessions, redis: ArqRedis, settings: Settings, session_id: str, jid: str, following: bool, *,
                 tenant_id: int | None, actor: Actor) -> dict[str, Any]:
    row = await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    answer: dict[str, Any] = await calls.call(db, redis, settings, session_id, "newsletters.follow",
                                              {"jid": check_jid(jid), "follow": following})
    async with db() as s, s.begin():
        audit.record(s, actor_type=actor.type, actor_id=actor.id, ip=actor.ip,
                     action="newsletter.follow" if following else "newsletter.unfollow", target_type="session",
                     target_id=session_id, tenant_id=row.tenant_id, details={"jid": jid})
    return answer
