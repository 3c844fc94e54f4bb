"""The real WhatsApp transport: one neonize (whatsmeow) client per session, connected one at a time and supervised.

This package is the only part of the gateway that imports neonize, and it does so lazily, inside the functions
that need it: importing neonize calls `logging.basicConfig` and starts a log thread, so the bridge configures
structlog first (pitfall 10). The numbered pitfalls cited in comments are those of the team's NEONIZE.md.

One module per area, each holding one mixin of `NeonizeTransport`, all built on `session.NeonizeBase` (the shared
state: `_sessions`, `_emit`, `_ready`, `_remember` …):

- `client`: the sessions' clients and their life (connect, supervise, stop, log out, QR codes, pairing by code);
- `connection`: what a client reports about its connection (paired, connected, logged out, failures, drops);
- `events`: incoming messages, changes to messages and receipts (mapped by the pure functions of `mapping`);
- `sending`: text, media and location sends; `chats`: read receipts, typing, number checks, contacts;
- `recipients`: JIDs from numbers and the per-session answers WhatsApp gave; `errors`: our errors for neonize's;
  `loop`: the event loop, thread pool and import neonize needs, and the reachability probe.

A new WhatsApp area (groups, calls, newsletters, labels …) is one more module `<area>.py` with one mixin
`Neonize<Area>(NeonizeBase)`, plus its name in `NeonizeTransport`'s bases below. Its neonize event handlers are
declared by overriding `_event_handlers` (returning `{**super()._event_handlers(), EventType: self._on_x}`).
"""

from __future__ import annotations

from wagate.transport.neonize.chats import NeonizeChats
from wagate.transport.neonize.client import NeonizeClient
from wagate.transport.neonize.connection import NeonizeConnection
from wagate.transport.neonize.errors import send_error, transport_error
from wagate.transport.neonize.events import NeonizeEvents
from wagate.transport.neonize.loop import import_neonize, prepare_event_loop, whatsapp_reachable
from wagate.transport.neonize.recipients import phone_digits, recipient_jid
from wagate.transport.neonize.sending import NeonizeSending

__all__ = [
    "NeonizeTransport",
    "import_neonize",
    "phone_digits",
    "prepare_event_loop",
    "recipient_jid",
    "send_error",
    "transport_error",
    "whatsapp_reachable",
]


class NeonizeTransport(NeonizeClient, NeonizeConnection, NeonizeEvents, NeonizeSending, NeonizeChats):
    """WhatsApp over neonize: QR pairing, supervised reconnects, event mapping and sends for many sessions."""
