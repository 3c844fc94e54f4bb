"""Changes WhatsApp reports to a message already stored: edits, deletes for everyone, reactions and poll votes.

Each changes the original message's row (found by its WhatsApp id, sent or received) and goes out as its own
event (`message.edited`, `message.revoked`, `message.reaction`, `poll.vote`), never as a new message. A poll vote
names its choices by the hash of each option's text: they are matched to the poll's options here, and the poll
message keeps each voter's latest choice and the tally. A change to a message the gateway never stored (older
than the link, say) still goes out as an event.
"""

from __future__ import annotations

from typing import Any

import structlog
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from wagate.db.models_whatsapp import Message, WaSession
from wagate.services import events
from wagate.transport.base import MessageChanged, poll_option_hash

log = structlog.get_logger(__name__)

EVENT_OF_CHANGE = {"edited": "message.edited", "revoked": "message.revoked", "reaction": "message.reaction",
                   "poll_vote": "poll.vote"}


def chosen_options(poll: dict[str, Any] | None, hashes: tuple[str, ...] | None) -> list[str] | None:
    """The option texts a vote names by hash; a hash that matches no option is kept as `?<hash>`."""
    if hashes is None:
        return None
    by_hash = {poll_option_hash(option): option for option in (poll or {}).get("options", [])}
    return [by_hash.get(h, f"?{h}") for h in hashes]


def _tally(poll: dict[str, Any], votes: dict[str, list[str]]) -> dict[str, int]:
    tally = {option: 0 for option in poll.get("options", [])}
    for chosen in votes.values():
        for option in chosen:
            tally[option] = tally.get(option, 0) + 1
    return tally


def _changed_content(content: dict[str, Any] | None, change: MessageChanged,
                     previous_text: str | None) -> dict[str, Any]:
    """The row's `content` with the change recorded (a fresh dict: the JSON column sees the assignment)."""
    content = dict(content or {})
    stamp = int(change.timestamp)
    if change.change == "edited":
        content["editedAt"] = stamp
        content["edits"] = [*content.get("edits", []), {"text": previous_text, "replacedAt": stamp}]
    elif change.change == "revoked":
        content["revokedAt"] = stamp
    elif change.change == "reaction":
        reactions = dict(content.get("reactions") or {})
        if change.text:
            reactions[change.sender] = change.text
        else:
            reactions.pop(change.sender, None)  # an empty reaction takes the earlier one back
        content["reactions"] = reactions
    else:
        voted = dict(content.get("pollVotes") or {})
        voted[change.sender] = stamp
        content["pollVotes"] = voted
        chosen = chosen_options(content.get("poll"), change.option_hashes)
        if chosen is not None and content.get("poll") is not None:
            poll = dict(content["poll"])
            votes = dict(poll.get("votes") or {})
            if chosen:
                votes[change.sender] = chosen
            else:
                votes.pop(change.sender, None)  # a vote for nothing takes the earlier one back
            poll["votes"], poll["tally"] = votes, _tally(poll, votes)
            content["poll"] = poll
    return content


async def apply_change(db: async_sessionmaker[AsyncSession], redis: Redis, change: MessageChanged) -> None:
    poll: dict[str, Any] | None = None
    previous_text: str | None = None
    async with db() as session, session.begin():
        wa_session = await session.get(WaSession, change.session_id)
        if wa_session is None:
            return
        row = await session.scalar(select(Message).where(
            Message.session_id == change.session_id, Message.wa_message_id == change.message_id).limit(1))
        if row is not None:
            previous_text = row.body if row.body is not None else row.caption
            row.content = _changed_content(row.content, change, previous_text)
            poll = row.content.get("poll")
            if change.change == "edited" and change.text is not None:
                if row.caption is not None and row.body is None:
                    row.caption = change.text  # an edited caption
                else:
                    row.body = change.text
        tenant_id, row_id = wa_session.tenant_id, row.id if row is not None else None
    data: dict[str, Any] = {"id": row_id, "messageId": change.message_id, "changeId": change.change_id,
                            "chat": change.chat, "from": change.sender, "fromMe": change.from_me,
                            "timestamp": int(change.timestamp)}
    if change.change == "edited":
        data["message"] = change.text
        data["previousMessage"] = previous_text
    elif change.change == "reaction":
        data["reaction"] = change.text
        data["removed"] = not change.text
    elif change.change == "poll_vote":
        data["options"] = chosen_options(poll, change.option_hashes)  # None: the vote could not be decrypted
        data["question"] = poll.get("question") if poll else None
        data["tally"] = poll.get("tally") if poll else None
    await events.publish_durably(redis, tenant_id, events.envelope(EVENT_OF_CHANGE[change.change], change.session_id,
                                                                   data), log=log, what="message change",
                                 session_id=change.session_id, wa_message_id=change.message_id)
