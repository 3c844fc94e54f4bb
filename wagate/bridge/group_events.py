"""What WhatsApp reports about the session's groups, as gateway events: `group.joined`, `group.left`,
`group.participants` (added, removed, promoted, demoted, with who did it) and `group.updated` (subject, description,
settings, picture, invite link, community links).

Nothing is stored: WhatsApp keeps a group's state and the calls read it live; these events tell the dashboard and
the webhooks what changed, in the camelCase of every other event's `data`.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_whatsapp import WaSession
from wagate.services import events
from wagate.transport.groups import Group, GroupJoined, GroupLeft, GroupParticipantsChanged, GroupUpdated

log = structlog.get_logger(__name__)

GroupEvent = GroupJoined | GroupLeft | GroupParticipantsChanged | GroupUpdated
_CHANGE_KEYS = {"join_approval": "joinApproval", "invite_link": "inviteLink"}


def group_data(group: Group) -> dict[str, Any]:
    """A group in an event's `data`."""
    return {
        "jid": group.jid, "subject": group.subject, "description": group.description, "owner": group.owner,
        "createdAt": int(group.created_at), "isCommunity": group.is_community, "community": group.community,
        "settings": {"announce": group.settings.announce, "locked": group.settings.locked,
                     "joinApproval": group.settings.join_approval, "disappearing": group.settings.disappearing},
        "participants": [{"jid": p.jid, "lid": p.lid, "isAdmin": p.is_admin, "isSuperAdmin": p.is_super_admin}
                         for p in group.participants],
    }


def envelope(event: GroupEvent) -> dict[str, Any]:
    match event:
        case GroupJoined(group=group, by=by, reason=reason):
            return events.envelope("group.joined", event.session_id, {**group_data(group), "by": by, "reason": reason})
        case GroupLeft(jid=jid, by=by):
            return events.envelope("group.left", event.session_id, {"jid": jid, "by": by})
        case GroupParticipantsChanged(jid=jid, action=action, participants=participants, by=by, timestamp=at):
            return events.envelope("group.participants", event.session_id, {
                "jid": jid, "action": action, "participants": list(participants), "by": by}, timestamp=at or None)
        case GroupUpdated(jid=jid, changes=changes, by=by, timestamp=at):
            return events.envelope("group.updated", event.session_id, {
                "jid": jid, "changes": {_CHANGE_KEYS.get(k, k): v for k, v in changes.items()}, "by": by},
                timestamp=at or None)
    raise TypeError(f"not a group event: {event!r}")


async def publish(db: async_sessionmaker[AsyncSession], redis: Redis, event: GroupEvent) -> None:
    async with db() as session:
        row = await session.get(WaSession, event.session_id)
        if row is None:  # deleted meanwhile: no tenant to tell
            return
        tenant_id = row.tenant_id
    await events.publish_durably(redis, tenant_id, envelope(event), log=log, what="group event",
                                 session_id=event.session_id)
