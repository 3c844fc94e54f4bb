"""A session's events in arrival order: receipts right behind each other are taken together, nothing overtakes."""

from __future__ import annotations

import asyncio

from wagate.bridge.event_queue import MAX_RECEIPTS, SessionEvents
from wagate.transport.base import Disconnected, ReceiptReceived, TransportEvent


def receipt(n: int) -> ReceiptReceived:
    return ReceiptReceived(session_id="s1", kind="delivered", chat="c", message_ids=(f"3EB0{n}",))


async def test_receipts_are_grouped_only_up_to_the_next_other_event() -> None:
    queue = SessionEvents()
    r1, r2, r3, r4 = receipt(1), receipt(2), receipt(3), receipt(3)  # r4 equals r3, yet is its own arrival
    dropped = Disconnected(session_id="s1", reason="connection lost")
    order: list[TransportEvent] = [r1, r2, dropped, r3, r4]
    handled: list[list[TransportEvent]] = []

    async def handle(event: TransportEvent) -> None:
        queue.arrive(event)
        async with queue:
            taken = queue.take(event)
            await asyncio.sleep(0)  # the others arrive while r1 is handled: r1 goes alone
            handled.append(taken)

    await asyncio.gather(*(handle(e) for e in order))

    assert [len(group) for group in handled] == [1, 1, 1, 2, 0]
    assert handled[0][0] is r1 and handled[1][0] is r2 and handled[2][0] is dropped
    assert handled[3][0] is r3 and handled[3][1] is r4


async def test_a_group_is_bounded() -> None:
    queue = SessionEvents()
    burst = [receipt(n) for n in range(MAX_RECEIPTS + 5)]
    for event in burst:
        queue.arrive(event)
    async with queue:
        assert queue.take(burst[0]) == burst[:MAX_RECEIPTS]
        assert queue.take(burst[1]) == []
        assert queue.take(burst[MAX_RECEIPTS]) == burst[MAX_RECEIPTS:]


async def test_events_left_by_a_cancelled_handler_are_dropped_not_handled_out_of_order() -> None:
    queue = SessionEvents()
    lost, after = Disconnected(session_id="s1", reason="gone"), receipt(9)
    queue.arrive(lost)  # its handler was cancelled before it got the lock
    queue.arrive(after)
    async with queue:
        assert queue.take(after) == [after]
        assert queue.take(lost) == []
