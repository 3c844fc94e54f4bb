"""Group and community operations: each one a call to the session's connection (`services.sessions.calls`).

The caller's tenant is checked first (another tenant's session is a 404, as a missing one), participants and group
JIDs are normalised here so a bad one is a 400 naming it before WhatsApp is asked, and every change WhatsApp made is
written to the audit log. WhatsApp holds the groups' state: nothing else is stored.
"""

from __future__ import annotations

import re
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.errors import Invalid
from wagate.services.messaging.phones import normalize_recipient
from wagate.services.operations import audit
from wagate.services.sessions import calls, lifecycle
from wagate.services.sessions.lifecycle import Actor

Db = async_sessionmaker[AsyncSession]
_GROUP_ID = re.compile(r"^(\d{5,20}(?:-\d{5,20})?)(?:@g\.us)?$")
_INVITE = re.compile(r"^(?:https?://chat\.whatsapp\.com/)?([A-Za-z0-9_-]{6,64})/?$")


def group_jid(value: str, *, field: str = "jid") -> str:
    """A group's JID from its JID or its digits alone; `Invalid` naming `field` otherwise."""
    match = _GROUP_ID.match(value.strip().lower()) if isinstance(value, str) else None
    if match is None:
        raise Invalid("Invalid group", details={field: [f"{value!r} is not a group JID (<digits>@g.us)"]})
    return f"{match.group(1)}@g.us"


def invite_code(value: str) -> str:
    """The code of an invite link (`https://chat.whatsapp.com/<code>`) or the code itself."""
    match = _INVITE.match(value.strip())
    if match is None:
        raise Invalid("Invalid invite", details={"link": ["is not a WhatsApp invite link or code"]})
    return match.group(1)


def participant_jids(values: list[str], settings: Settings) -> list[str]:
    """Phone numbers or user JIDs as the JIDs WhatsApp adds; each one at most once, in the order given."""
    jids: list[str] = []
    for n, value in enumerate(values):
        recipient = normalize_recipient(value, settings.default_region, field=f"participants.{n}")
        if recipient.kind not in ("phone", "user"):
            raise Invalid("Invalid participant", details={f"participants.{n}": ["is not a person's number or JID"]})
        if recipient.jid not in jids:
            jids.append(recipient.jid)
    return jids


async def read(db: Db, redis: ArqRedis, settings: Settings, session_id: str, name: str,
               params: dict[str, Any] | None = None, *, tenant_id: int | None) -> Any:
    """The answer of the call `name` on a session of the caller's tenant."""
    await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    return await calls.call(db, redis, settings, session_id, name, params or {})


async def change(db: Db, redis: ArqRedis, settings: Settings, session_id: str, name: str, params: dict[str, Any],
                 *, tenant_id: int | None, actor: Actor, target: str | None = None,
                 details: dict[str, Any] | None = None) -> Any:
    """Make the change `name` through the session's connection, then audit it as `group.<what>`."""
    row = await lifecycle.get_session(db, session_id, tenant_id=tenant_id)
    answer = await calls.call(db, redis, settings, session_id, name, params)
    if target is None:  # a group made or joined is named by the answer
        target = params.get("jid") or (answer.get("jid") if isinstance(answer, dict) else answer)
    async with db() as s, s.begin():
        audit.record(s, actor_type=actor.type, actor_id=actor.id, ip=actor.ip, action=name.replace("groups.", "group."),
                     target_type="group", target_id=target, tenant_id=row.tenant_id,
                     details={"session": session_id, **(details or {})})
    return answer
