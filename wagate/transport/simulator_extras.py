"""The simulator's part of status, channels, calls and proxies: what the fake WhatsApp does, and the phone-side
controls a test or demo drives (`ring`, `hang_up`, `add_channel`).

- A proxy is dialled for real before each connect (`proxy_dial`): a tunnel to web.whatsapp.com:443 must open, or the
  connect fails for good with the proxy's refusal as the reason; `proxy_dials` records each dial.
- A rejected call ends at once (`CallEnded`, reason "rejected"), as whatsmeow reports its own reject;
  `rejected_calls` records them. Statuses go to `status@broadcast` like any send; `status_posts` keeps their look.
- Channels live in one directory shared by every session (`channels`); each session follows its own set.
"""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from wagate.errors import NotFound, TransportError

from . import simulator_wire as wire
from .base import STATUS_JID, CallEnded, CallOffered, ConnectFailed, Newsletter, SendResult
from .proxy_dial import ProxyRefused, dial, proxy_address
from .simulator import SimulatorTransport
from .simulator_phone import PhoneActionError

if TYPE_CHECKING:  # the mixin is written against the simulator it extends, before which it sits in the bases
    _Base = SimulatorTransport
else:
    _Base = object


@dataclass
class _Extras:
    """The simulator's state for these areas, made on first use (the transport's constructor knows nothing of it)."""

    proxies: dict[str, str] = field(default_factory=dict)
    proxy_dials: list[tuple[str, str]] = field(default_factory=list)  # (session id, proxy URL)
    rejected_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (session id, caller, call id)
    status_posts: list[dict[str, Any]] = field(default_factory=list)
    channels: dict[str, Newsletter] = field(default_factory=dict)
    following: dict[str, set[str]] = field(default_factory=dict)  # session id → channel JIDs
    call_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class SimulatorExtras(_Base):
    @property
    def extras(self) -> _Extras:
        state: _Extras | None = self.__dict__.get("_extras_state")
        if state is None:
            state = self.__dict__["_extras_state"] = _Extras()
        return state

    # --- proxy ---------------------------------------------------------------------------------------

    async def use_proxy(self, session_id: str, proxy_url: str | None) -> None:
        if proxy_url is None:
            self.extras.proxies.pop(session_id, None)
        else:
            self.extras.proxies[session_id] = proxy_url

    async def connect(self, session_id: str) -> None:
        proxy_url = self.extras.proxies.get(session_id)
        s = self._session(session_id)
        if proxy_url is not None and s.state == "idle":
            self.extras.proxy_dials.append((session_id, proxy_url))
            try:
                await dial(proxy_url, timeout_s=10.0 / self.speed)
            except ProxyRefused as exc:
                await self._emit(ConnectFailed(session_id=session_id, reason=f"proxy {proxy_address(proxy_url)}: {exc}",
                                               permanent=True))
                return
        await super().connect(session_id)

    # --- calls ---------------------------------------------------------------------------------------

    async def reject_call(self, session_id: str, caller: str, call_id: str) -> None:
        s = self._connected(session_id)
        self.extras.rejected_calls.append((session_id, caller, call_id))
        phone = caller.split("@", 1)[0]
        # Told later, as WhatsApp does: the bridge rejects while it handles the offer, and waits for nothing else.
        self._spawn(s.tasks, self._deliver(s, CallEnded(
            session_id=session_id, call_id=call_id, caller=f"{phone}@{wire.USER_SERVER}", reason="rejected",
            timestamp=float(int(time.time())))))

    async def ring(self, session_id: str, from_phone: str, *, video: bool = False) -> CallOffered:
        """Someone calls the session's number (phone side); the call id is returned in the event."""
        digits = wire.phone_digits(from_phone)
        if digits is None:
            raise PhoneActionError(f"not a phone number: {from_phone!r}")
        s = self._session(session_id)
        call_id = f"SIMCALL{next(self.extras.call_ids):06d}{secrets.token_hex(4).upper()}"
        event = CallOffered(session_id=session_id, call_id=call_id, caller=f"{digits}@{wire.USER_SERVER}",
                            video=video, timestamp=float(int(time.time())))
        await self._deliver(s, event)
        return event

    async def hang_up(self, session_id: str, offer: CallOffered, reason: str = "timeout") -> None:
        """The caller gives up (phone side)."""
        await self._deliver(self._session(session_id), CallEnded(
            session_id=session_id, call_id=offer.call_id, caller=offer.caller, reason=reason,
            timestamp=float(int(time.time()))))

    # --- status --------------------------------------------------------------------------------------

    async def send_status_text(
        self, session_id: str, text: str, *, background_argb: int | None = None, font: int | None = None,
        message_id: str | None = None,
    ) -> SendResult:
        result = await self._send(session_id, STATUS_JID, "text", message_id, text=text)
        self.extras.status_posts.append({"session_id": session_id, "message_id": result.message_id, "text": text,
                                         "background_argb": background_argb, "font": font})
        return result

    # --- channels ------------------------------------------------------------------------------------

    def add_channel(self, name: str, *, description: str | None = None, subscribers: int = 0,
                    owner: str | None = None) -> Newsletter:
        """A channel in WhatsApp's directory (phone side); `owner` (a session id) owns it and follows it."""
        jid = f"{120363000000000000 + len(self.extras.channels) + 1}@newsletter"
        channel = Newsletter(jid=jid, name=name, description=description, invite_code=secrets.token_hex(11),
                             subscribers=subscribers, role="guest", muted=False, verified=False)
        self.extras.channels[jid] = channel
        if owner is not None:
            self.extras.following.setdefault(owner, set()).add(jid)
            self.extras.channels[jid] = replace(channel, role="owner")
        return self.extras.channels[jid]

    def _channel(self, session_id: str, jid: str | None, invite: str | None) -> Newsletter:
        found = next((c for c in self.extras.channels.values()
                      if (jid is not None and c.jid == jid) or (invite is not None and c.invite_code == invite)), None)
        if found is None:
            raise NotFound("no such channel")
        followed = found.jid in self.extras.following.get(session_id, set())
        role = found.role if found.role == "owner" and followed else ("subscriber" if followed else "guest")
        return replace(found, role=role)

    async def newsletters(self, session_id: str) -> list[Newsletter]:
        self._connected(session_id)
        return [self._channel(session_id, jid, None) for jid in sorted(self.extras.following.get(session_id, set()))]

    async def newsletter(self, session_id: str, *, jid: str | None = None, invite: str | None = None) -> Newsletter:
        self._connected(session_id)
        return self._channel(session_id, jid, invite)

    async def follow_newsletter(self, session_id: str, jid: str, follow: bool) -> None:
        self._connected(session_id)
        channel = self._channel(session_id, jid, None)
        if channel.role == "owner" and not follow:
            raise TransportError("the owner of a channel cannot unfollow it")
        followed = self.extras.following.setdefault(session_id, set())
        if follow:
            followed.add(jid)
        else:
            followed.discard(jid)



class SimulatorWithExtras(SimulatorExtras, SimulatorTransport):
    """The simulator with its status, channels, calls and proxy parts."""
