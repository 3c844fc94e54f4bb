"""What a session does when someone calls its number: ring unanswered (the default), or reject the call at once and,
optionally, answer the caller with a message (`reject_calls`, `reject_call_message`, kept in the session's settings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wagate.errors import Invalid
from wagate.services.operations import audit
from wagate.services.sessions import lifecycle
from wagate.services.sessions.lifecycle import Actor, Sessions

FIELDS = ("reject_calls", "reject_call_message")
MESSAGE_MAX = 4096  # a text message, as a send takes it


@dataclass(frozen=True, slots=True)
class CallPolicy:
    reject_calls: bool = False
    reject_call_message: str | None = None


def policy_of(settings: Mapping[str, Any] | None) -> CallPolicy:
    """The policy kept in a session's `settings` JSON."""
    settings = settings or {}
    return CallPolicy(bool(settings.get("reject_calls", False)), settings.get("reject_call_message") or None)


def check(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The policy fields of `changes`, checked; `Invalid` naming each bad one."""
    problems: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    if "reject_calls" in changes:
        if isinstance(changes["reject_calls"], bool):
            clean["reject_calls"] = changes["reject_calls"]
        else:
            problems["reject_calls"] = ["expects true or false"]
    if "reject_call_message" in changes:
        message = changes["reject_call_message"]
        if message is None or (isinstance(message, str) and message.strip() and len(message) <= MESSAGE_MAX):
            clean["reject_call_message"] = message
        else:
            problems["reject_call_message"] = [f"expects a text of 1 to {MESSAGE_MAX} characters, or null for none"]
    if problems:
        raise Invalid("Invalid call policy", problems)
    return clean


async def set_policy(db: Sessions, session_id: str, changes: Mapping[str, Any], *, tenant_id: int | None,
                     actor: Actor) -> CallPolicy:
    clean = check(changes)
    async with db() as s, s.begin():
        row = await lifecycle._owned(s, session_id, tenant_id)
        before = row.settings or {}
        changed = {key: value for key, value in clean.items() if before.get(key) != value}
        if changed:
            row.settings = {**before, **changed}
            audit.record(s, actor_type=actor.type, actor_id=actor.id, ip=actor.ip, action="session.update",
                         target_type="session", target_id=session_id, tenant_id=row.tenant_id,
                         details={"changed": changed})
        return policy_of(row.settings)
