"""Webhook POST speed: signed, logged POSTs through the delivery code vs plain aiohttp POSTs, in the same run.

Both send N 1 KB bodies to one aiohttp receiver on 127.0.0.1 with concurrency C over one shared ClientSession.
"signed" goes through `wagate.services.webhooks.delivery`: HMAC headers, the SSRF check and guarded resolver,
the outcome classification and one structlog line per attempt (rendered to /dev/null as JSON). It leaves out the
database and arq, which cost what BASELINES.md lists per commit and per job.

    .venv/bin/python bench/webhooks.py [N] [C]
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time

import aiohttp
import structlog
from aiohttp import web

from wagate.db.enums import SignatureScheme
from wagate.services.webhooks.delivery import classify, post, signed_headers
from wagate.services.webhooks.ssrf import GuardedResolver

BODY = json.dumps({"id": "evt_" + "0" * 24, "event": "message.received", "timestamp": 0, "session": "s",
                   "data": {"text": "x" * 900}}).encode()
SECRET = "whsec_" + "k" * 43
TARGET_RATIO = 0.5


async def receiver() -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def run(n: int, c: int, one: object) -> float:
    queue = iter(range(n))

    async def lane() -> None:
        for i in queue:
            await one(i)  # type: ignore[operator]

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(c)))
    return n / (time.perf_counter() - started)


async def main(n: int, c: int) -> int:
    structlog.configure(processors=[structlog.processors.TimeStamper(fmt="iso"), structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(open("/dev/null", "w")))  # noqa: SIM115, ASYNC230
    log = structlog.get_logger("bench")
    logging.disable(logging.CRITICAL)
    runner, url = await receiver()
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=c, resolver=GuardedResolver(allow_private=True))
    async with aiohttp.ClientSession(connector=connector) as http:
        async def plain(i: int) -> None:
            async with http.post(url, data=BODY, headers={"Content-Type": "application/json"}) as response:
                await response.read()

        async def signed(i: int) -> None:
            headers = signed_headers(SignatureScheme.WAGATE, SECRET, BODY, "message.received", i, int(time.time()))
            result = await post(http, url, BODY, headers, 10.0, allow_private=True)
            log.info("webhook attempt", delivery_id=i, status_code=result.status_code,
                     duration_ms=result.duration_ms, outcome=classify(result).value)

        await run(200, c, plain)  # warm up connections
        figures: dict[str, list[float]] = {"plain": [], "signed": []}
        for _ in range(3):  # interleaved, so both see the same noisy machine
            figures["plain"].append(await run(n, c, plain))
            figures["signed"].append(await run(n, c, signed))
    await runner.cleanup()
    plain_rate, signed_rate = (sorted(v)[1] for v in figures.values())
    print(f"{n} x 1 KB POSTs, concurrency {c}, median of 3")
    print(f"plain aiohttp POSTs:           {plain_rate:8.0f}/s")
    print(f"signed + logged deliveries:    {signed_rate:8.0f}/s")
    print(f"ratio signed/plain:            {signed_rate / plain_rate:8.2f} (target >= {TARGET_RATIO})")
    return 0 if signed_rate / plain_rate >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000,
                              int(sys.argv[2]) if len(sys.argv) > 2 else 50)))
