"""Builds the transport named by WA_TRANSPORT; the only place that chooses between the real and the fake."""

from __future__ import annotations

from wagate.config import Settings
from wagate.transport.base import EventSink, WhatsAppTransport


def create_transport(settings: Settings, sink: EventSink) -> WhatsAppTransport:
    if settings.wa_transport == "simulator":
        from wagate.transport.simulator import SimulatorTransport

        return SimulatorTransport(sink, state_dir=settings.auth_sessions_dir, speed=settings.simulator_speed)
    # Imported here so that only a bridge running the real transport ever loads neonize (and its Go core).
    from wagate.transport.neonize import NeonizeTransport, import_neonize, prepare_event_loop

    import_neonize()  # its import starts `uname -a` through pipes it drops: reaped there
    prepare_event_loop()
    return NeonizeTransport(sink, auth_dir=settings.auth_sessions_dir, qr_timeout_s=settings.qr_timeout_s)
