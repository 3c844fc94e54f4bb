"""An in-process fake WhatsApp behind the transport interface, for tests and demos (`WA_TRANSPORT=simulator`).

From the bridge's side it behaves like neonize: an unlinked session shows rotating QR codes (60 s, then
20 s each, six in all) and then gives up; a linked session's account is kept in
`<state_dir>/<session_id>.simulator.json` so a restarted bridge reconnects without a QR; sends answer with
whatsmeow-style ids and are followed by delivered and read receipts. Events that happen while a linked
session is offline (receipts, incoming messages) are held and delivered after it reconnects, as WhatsApp's
server does. The phone side (scan, type a pairing code, send a message in, unlink, drop the network) is
driven through the plain async methods inherited from `phone.PhoneSide`; `sent`, `typing` and
`read_marks` record what the bridge asked for. With a state_dir, every accepted send is also appended to
`<state_dir>/_simulator_sent.jsonl` before the send returns, so a test can count what a killed bridge sent.

A send goes out under the `message_id` it is given. A second send under an id the session already sent
answers with the first send's result and goes nowhere, as WhatsApp's recipients discard a message whose id
they already have; the ids sent by earlier processes are read from the sent log before a session connects.

Every delay is divided by `speed`, so a test can run WhatsApp's real timings a hundred times faster.

One module per area, each holding one mixin of `SimulatorTransport`, all built on `session.SimulatorBase` (the
shared state and helpers: `_sessions`, `_session`, `_connected`, `_emit`, `_deliver`, `_spawn` …): `connection`
(QR codes, pairing, linking, connecting, stopping), `sending`, `chats` (read receipts, typing, number checks,
contacts) and `phone` (the phone side); `wire` holds WhatsApp's formats and the records tests read.

A new WhatsApp area (groups, calls, newsletters, labels …) is one more module `<area>.py` with one mixin
`Simulator<Area>(SimulatorBase)`, plus its name in `SimulatorTransport`'s bases below; its phone-side controls,
if any, go in the same module.
"""

from __future__ import annotations

from wagate.transport.simulator.chats import SimulatorChats
from wagate.transport.simulator.connection import SimulatorConnection
from wagate.transport.simulator.phone import PhoneSide
from wagate.transport.simulator.sending import SimulatorSending
from wagate.transport.simulator.session import SimSession
from wagate.transport.simulator.wire import PhoneActionError, ReadMarked, SentMessage, TypingShown

__all__ = ["PhoneActionError", "ReadMarked", "SentMessage", "SimSession", "SimulatorTransport", "TypingShown"]


class SimulatorTransport(SimulatorConnection, SimulatorSending, SimulatorChats, PhoneSide):
    """Many simulated sessions, one sink; see the package docstring for the phone-side control methods."""
