"""Channels (newsletters) in the simulator: one directory shared by every session (`channels`, filled from the phone
side with `add_channel`), and the set each session follows; a session owns the channels created for it."""

from __future__ import annotations

import dataclasses
import functools
import secrets

from wagate.errors import NotFound, TransportError
from wagate.transport.base import Newsletter
from wagate.transport.simulator.session import SimulatorBase

FIRST_CHANNEL = 120363000000000000  # channel ids are of this size


class SimulatorNewsletters(SimulatorBase):
    # State of this part, made on first use: the constructor is the base's, so its signature stays typed.
    @functools.cached_property
    def channels(self) -> dict[str, Newsletter]:
        return {}

    @functools.cached_property
    def channel_owners(self) -> dict[str, str]:  # channel JID → session id
        return {}

    @functools.cached_property
    def following(self) -> dict[str, set[str]]:  # session id → channel JIDs
        return {}

    def add_channel(self, name: str, *, description: str | None = None, subscribers: int = 0,
                    owner: str | None = None) -> Newsletter:
        """A channel in WhatsApp's directory (phone side); `owner`, a session id, owns and follows it."""
        jid = f"{FIRST_CHANNEL + len(self.channels) + 1}@newsletter"
        channel = self.channels[jid] = Newsletter(
            jid=jid, name=name, description=description, invite_code=secrets.token_hex(11), subscribers=subscribers,
            role="guest", muted=False, verified=False)
        if owner is not None:
            self.channel_owners[jid] = owner
            self.following.setdefault(owner, set()).add(jid)
        return channel

    def _seen_by(self, session_id: str, jid: str | None, invite: str | None) -> Newsletter:
        found = next((c for c in self.channels.values()
                      if (jid is not None and c.jid == jid) or (invite is not None and c.invite_code == invite)), None)
        if found is None:
            raise NotFound("no such channel")
        if self.channel_owners.get(found.jid) == session_id:
            role = "owner"
        else:
            role = "subscriber" if found.jid in self.following.get(session_id, set()) else "guest"
        return dataclasses.replace(found, role=role)

    async def newsletters(self, session_id: str) -> list[Newsletter]:
        self._connected(session_id)
        return [self._seen_by(session_id, jid, None) for jid in sorted(self.following.get(session_id, set()))]

    async def newsletter(self, session_id: str, *, jid: str | None = None, invite: str | None = None) -> Newsletter:
        self._connected(session_id)
        return self._seen_by(session_id, jid, invite)

    async def follow_newsletter(self, session_id: str, jid: str, follow: bool) -> None:
        self._connected(session_id)
        if self._seen_by(session_id, jid, None).role == "owner" and not follow:
            raise TransportError("the owner of a channel cannot unfollow it")
        followed = self.following.setdefault(session_id, set())
        if follow:
            followed.add(jid)
        else:
            followed.discard(jid)
