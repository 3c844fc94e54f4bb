"""Calls in the simulator: the phone side rings the session's number (`ring`) and hangs up (`hang_up`); a call the
session rejects ends at once with reason "rejected", as whatsmeow reports its own reject. `rejected_calls` records
each reject (session id, caller, call id)."""

from __future__ import annotations

import functools
import itertools
import secrets
import time

from wagate.transport.base import CallEnded, CallOffered
from wagate.transport.simulator import wire
from wagate.transport.simulator.session import SimulatorBase
from wagate.transport.simulator.wire import PhoneActionError


class SimulatorCalls(SimulatorBase):
    # State of this part, made on first use: the constructor is the base's, so its signature stays typed.
    @functools.cached_property
    def rejected_calls(self) -> list[tuple[str, str, str]]:
        return []

    @functools.cached_property
    def _call_seq(self) -> itertools.count[int]:
        return itertools.count(1)

    async def reject_call(self, session_id: str, caller: str, call_id: str) -> None:
        s = self._connected(session_id)
        self.rejected_calls.append((session_id, caller, call_id))
        phone = caller.split("@", 1)[0]
        # Told later, as WhatsApp does: the bridge rejects while it handles the offer, and waits for nothing else.
        self._spawn(s.tasks, self._deliver(s, CallEnded(
            session_id=session_id, call_id=call_id, caller=f"{phone}@{wire.USER_SERVER}", reason="rejected",
            timestamp=float(int(time.time())))))

    async def ring(self, session_id: str, from_phone: str, *, video: bool = False) -> CallOffered:
        """Someone calls the session's number (phone side); held until it is connected, like any event."""
        digits = wire.phone_digits(from_phone)
        if digits is None:
            raise PhoneActionError(f"not a phone number: {from_phone!r}")
        call_id = f"SIMCALL{next(self._call_seq):06d}{secrets.token_hex(4).upper()}"
        event = CallOffered(session_id=session_id, call_id=call_id, caller=f"{digits}@{wire.USER_SERVER}",
                            video=video, timestamp=float(int(time.time())))
        await self._deliver(self._session(session_id), event)
        return event

    async def hang_up(self, session_id: str, offer: CallOffered, reason: str = "timeout") -> None:
        """The caller gives up (phone side)."""
        await self._deliver(self._session(session_id), CallEnded(
            session_id=session_id, call_id=offer.call_id, caller=offer.caller, reason=reason,
            timestamp=float(int(time.time()))))
