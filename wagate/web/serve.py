"""Serving one web process, and stopping it without dropping a request behind nginx.

On SIGTERM the process first drains for `drain_s`: it keeps its port open and answers every request, but
`/api/health` says 503 (a load balancer that checks readiness moves on) and every answer closes its connection, so
nginx keeps no idle keep-alive connection to it. nginx's own idle ones lapse within its upstream `keepalive_timeout`
(shorter than the drain). Only then is the port closed: from that moment nginx's connects are refused, which it
retries on another web process even for a POST (nothing was sent), and requests in flight get `shutdown_timeout`
to finish. Closing the port at once, as aiohttp does, could close a keep-alive connection under a request nginx had
just sent on it, and nginx does not retry a POST it has sent: a 502.
"""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from wagate.web.keys import DRAINING

log = structlog.get_logger("wagate.web")


async def close_while_draining(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: while draining, each answer ends its connection and says so (`Connection: close`).

    The header is set here because aiohttp has chosen it before this hook runs: a connection closed after an answer
    that did not say so is one nginx may already be sending the next request on, which it cannot retry (a 502).
    A WebSocket's upgrade is left alone: it is closed at shutdown, and its client reconnects to another process."""
    if request.app[DRAINING].is_set() and response.status != 101:
        response.force_close()
        response.headers["Connection"] = "close"


async def serve(app: web.Application, host: str, port: int, *, drain_s: float, shutdown_timeout: float) -> None:
    """Run `app` on host:port until SIGTERM or SIGINT, then drain, then stop."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("web listening", host=host, port=port)
        await stop.wait()
        app[DRAINING].set()
        log.info("web draining", drain_s=drain_s)
        await asyncio.sleep(drain_s)
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
