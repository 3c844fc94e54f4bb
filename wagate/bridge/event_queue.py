"""The order in which one session's transport events are handled: one at a time, as they arrived.

Receipts waiting one behind the other are taken together, so that a burst of them (a send batch is followed
by two per message) costs one read, one write and one publish instead of that many. Only receipts right behind
each other are grouped: a receipt never overtakes another kind of event, nor the other way round.
"""

from __future__ import annotations

import asyncio
from collections import deque

from wagate.transport.base import ReceiptReceived, TransportEvent

MAX_RECEIPTS = 500  # per group: bounds the IN list and the events of one pipeline


class SessionEvents:
    """Holds a session's events from arrival until their handler takes them; use `async with` around `take`."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()  # fair: waiters get it in arrival order, the order of `_waiting`
        self._waiting: deque[TransportEvent] = deque()
        self._ids: set[int] = set()  # of the events in `_waiting`: each stays alive until its handler returns

    def arrive(self, event: TransportEvent) -> None:
        self._waiting.append(event)
        self._ids.add(id(event))

    async def __aenter__(self) -> SessionEvents:
        await self._lock.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._lock.release()

    def take(self, event: TransportEvent) -> list[TransportEvent]:
        """With the lock held: what to handle now for `event` — nothing if an earlier receipt took it along.

        Everything that arrived before `event` is gone by now unless its handler was cancelled before
        getting the lock; such leftovers are dropped.
        """
        if id(event) not in self._ids:
            return []
        while self._pop() is not event:
            pass
        taken = [event]
        if isinstance(event, ReceiptReceived):
            while self._waiting and isinstance(self._waiting[0], ReceiptReceived) and len(taken) < MAX_RECEIPTS:
                taken.append(self._pop())
        return taken

    def _pop(self) -> TransportEvent:
        event = self._waiting.popleft()
        self._ids.discard(id(event))
        return event
