"""Builds the transport named by WA_TRANSPORT; the only place that chooses between the real and the fake."""

from __future__ import annotations

import gc
import os
import subprocess
import time
import warnings

import psutil

from wagate.config import Settings
from wagate.transport.base import EventSink, WhatsAppTransport


def create_transport(settings: Settings, sink: EventSink) -> WhatsAppTransport:
    if settings.wa_transport == "simulator":
        from wagate.transport.simulator_extras import SimulatorWithExtras

        return SimulatorWithExtras(sink, state_dir=settings.auth_sessions_dir, speed=settings.simulator_speed)
    # Imported here so that only a bridge running the real transport ever loads neonize (and its Go core).
    from wagate.transport.neonize import NeonizeTransport, prepare_event_loop

    # The first prepare_event_loop loads neonize, whose import starts `uname -a` through pipes it drops.
    before = {child.pid for child in psutil.Process().children()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        prepare_event_loop()
        _reap_import_children(before)
    return NeonizeTransport(sink, auth_dir=settings.auth_sessions_dir, qr_timeout_s=settings.qr_timeout_s)


def _reap_import_children(before: set[int], within_s: float = 5.0) -> None:
    """neonize's import runs `os.popen("uname -a").read()` (twice) and drops the pipes unclosed: their finished `sh`
    stay zombies under the bridge, as nothing waits on them. Wait on the children the import started (not on any
    other), each as soon as it has exited."""
    deadline = time.monotonic() + within_s
    gc.collect()  # the dropped wrappers, so subprocess stops tracking their children
    subprocess._cleanup()  # type: ignore[attr-defined]
    started = {child.pid for child in psutil.Process().children()} - before
    while started and time.monotonic() < deadline:
        for pid in list(started):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped already (by subprocess itself)
                done = pid
            if done:
                started.discard(pid)
        if started:
            time.sleep(0.01)
