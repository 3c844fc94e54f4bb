"""The process-wide setup neonize needs: its event loop and thread pool, its import, and a reachability probe."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import time
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor

import psutil

EXECUTOR_HEADROOM = 32  # threads beyond one per session, for neonize's own short to_thread calls (pitfall 1)
WHATSAPP_ENDPOINT = ("web.whatsapp.com", 443)

_executors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ThreadPoolExecutor] = weakref.WeakKeyDictionary()


def prepare_event_loop(sessions: int = 0) -> None:
    """Bridge start-up: size the default executor for `sessions` clients and hand neonize the running loop.

    Safe to call again; the transport calls it itself whenever it adds a session.
    """
    loop = asyncio.get_running_loop()
    needed = sessions + EXECUTOR_HEADROOM
    current = _executors.get(loop)
    if current is None or current._max_workers < needed:
        # A ThreadPoolExecutor cannot grow, so a larger one replaces it; threads still blocked in the old one
        # (live clients) finish there, and shutdown(wait=False) lets them exit once their calls return.
        size = max(needed, 2 * current._max_workers) if current else needed
        executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="wagate-wa")
        loop.set_default_executor(executor)  # pitfall 1: each live client holds one thread for its lifetime
        _executors[loop] = executor
        if current is not None:
            current.shutdown(wait=False)
    from neonize.aioze import events as neonize_events

    neonize_events.event_global_loop = loop  # pitfall 2: events go to this module global's loop only


async def whatsapp_reachable(timeout_s: float = 10.0) -> str | None:
    """None when a TCP connection to WhatsApp's websocket host opens; otherwise why not."""
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(*WHATSAPP_ENDPOINT)
    except (OSError, TimeoutError) as exc:
        return f"web.whatsapp.com unreachable: {str(exc) or type(exc).__name__}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def import_neonize(within_s: float = 5.0) -> None:
    """Import neonize (once per process) and reap the `uname -a` children its import leaves behind.

    neonize's import runs `os.popen("uname -a").read()` (twice) and drops the pipes unclosed: their finished `sh`
    would stay zombies, and under filterwarnings=error the pipes' ResourceWarning would fail whichever test next
    starts a process (subprocess frees them when it reaps at the next Popen). So the children the import started
    (and no other) are waited on here, each as soon as it has exited, and their pipes freed with the warning muted.
    """
    if "neonize" in sys.modules:
        return
    before = {child.pid for child in psutil.Process().children()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        import neonize  # noqa: F401

        started = {child.pid for child in psutil.Process().children()} - before
        ours = frozenset(started)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            gc.collect()  # the dropped wrappers, so subprocess tracks (and then frees) their children
            subprocess._cleanup()  # type: ignore[attr-defined]  # reaps finished children in subprocess._active
            for pid in list(started):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:  # reaped already (by subprocess itself)
                    done = pid
                if done:
                    started.discard(pid)
            active = subprocess._active  # type: ignore[attr-defined]
            if not started and not any(p.pid in ours for p in active):
                break
            time.sleep(0.01)
        gc.collect()
