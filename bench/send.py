"""Send acceptance: req/s and p50/p99 of POST /api/messages/send at 64 connections, against a bare arq enqueue.

Both servers run as their own processes on 127.0.0.1, one Valkey behind them:
  wagate    `python -m wagate web`: API key auth, validation, the `queued` row in SQLite (or MariaDB with
            --mariadb), the send job, the JSON answer (no bridge runs: the jobs wait in the queue);
  baseline  an aiohttp endpoint that reads the JSON body and enqueues one arq job, nothing else.
The load comes from wrk (`apt-get install wrk`) when installed, else from an aiohttp client loop in a separate
process. Rounds alternate baseline and wagate so both see the same noisy machine; the medians are compared.

    .venv/bin/python -m bench.send [--seconds 10] [--rounds 3] [--connections 64] [--mariadb] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator

from bench.common import LoadResult, Stack, add_linked_sessions, free_port, median, py_spy, run_load, wait_http
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import SessionStatus
from wagate.services.identity import bootstrap

BODY = {"session": "bench-1", "to": "6281234567890", "message": "Halo! Ruang rapat 2 sudah dipesan untuk besok."}
TARGET_RATIO, TARGET_P99_MS = 0.6, 100.0


def baseline_server(port: int, redis_url: str) -> None:
    """The baseline: validate the body as JSON with the fields a send needs, enqueue one arq job, answer 202."""
    from aiohttp import web
    from arq import create_pool
    from arq.connections import ArqRedis

    from workers.common import redis_settings

    async def app_factory() -> web.Application:
        app = web.Application()
        key = web.AppKey("arq", ArqRedis)

        async def pool(app: web.Application) -> AsyncIterator[None]:
            app[key] = await create_pool(redis_settings(redis_url))
            yield
            await app[key].aclose()

        async def send(request: web.Request) -> web.Response:
            body = await request.json()
            if not isinstance(body, dict) or not body.get("to") or not body.get("message"):
                return web.json_response({"success": False}, status=400)
            job = await request.app[key].enqueue_job("noop", body["to"], _queue_name="bench:baseline")
            return web.json_response({"success": True, "data": {"job": job.job_id if job else None}}, status=202)

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        app.cleanup_ctx.append(pool)
        app.router.add_post("/send", send)
        app.router.add_get("/health", health)
        return app

    web.run_app(app_factory(), host="127.0.0.1", port=port, access_log=None, print=None)


async def prepare(stack: Stack) -> str:
    settings = stack.settings
    engine = create_engine(settings)
    await add_linked_sessions(create_sessionmaker(engine), settings, ["bench-1"], status=SessionStatus.WORKING)
    await engine.dispose()
    key = await bootstrap.create_api_key(settings, "bench", role="admin")
    return key.plaintext


def show(name: str, result: LoadResult) -> None:
    print(f"  {name:9} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms"
          f"  ({result.requests} requests, {result.errors} errors)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--mariadb", action="store_true", help="a private MariaDB instead of SQLite")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the web process in round 1 into FILE (raw stacks)")
    parser.add_argument("--baseline-server", nargs=2, metavar=("PORT", "REDIS_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        baseline_server(int(args.baseline_server[0]), args.baseline_server[1])
        return 0

    stack = Stack(mariadb=args.mariadb)
    try:
        api_key = asyncio.run(prepare(stack))
        web_port, base_port = free_port(), free_port()
        wagate = stack.wagate("web", "web", "--port", str(web_port)).start()
        baseline = stack.child("baseline", "-m", "bench.send", "--baseline-server", str(base_port),
                               stack.valkey.url).start()
        asyncio.run(wait_http(f"http://127.0.0.1:{web_port}/health", child=wagate))
        asyncio.run(wait_http(f"http://127.0.0.1:{base_port}/health", child=baseline))
        targets = {
            "baseline": (f"http://127.0.0.1:{base_port}/send", {"Content-Type": "application/json"}),
            "wagate": (f"http://127.0.0.1:{web_port}/api/messages/send",
                       {"Content-Type": "application/json", "x-api-key": api_key}),
        }
        for url, headers in targets.values():  # warm up: connections, pools, caches
            run_load(url, BODY, headers, connections=args.connections, seconds=2, workdir=stack.base)
        results: dict[str, list[LoadResult]] = {name: [] for name in targets}
        print(f"POST {args.connections} connections, {args.seconds:.0f} s per run, "
              f"{'MariaDB' if args.mariadb else 'SQLite'}", flush=True)
        for n in range(args.rounds):
            print(f"round {n + 1}", flush=True)
            for name, (url, headers) in targets.items():
                profiled = args.profile and n == 0 and name == "wagate"
                spy = py_spy(wagate.pid, args.seconds, args.profile) if profiled else None
                result = run_load(url, BODY, headers, connections=args.connections, seconds=args.seconds,
                                  workdir=stack.base)
                results[name].append(result)
                if spy is not None:
                    spy.wait()
                show(name, result)
        tool = results["wagate"][0].tool
        figures = {name: (median([r.rps for r in rs]), median([r.p50_ms for r in rs]), median([r.p99_ms for r in rs]))
                   for name, rs in results.items()}
        (b_rps, b_p50, b_p99), (w_rps, w_p50, w_p99) = figures["baseline"], figures["wagate"]
        ratio = w_rps / b_rps
        print(f"\nmedians of {args.rounds} ({tool}, -c{args.connections})")
        print(f"baseline (aiohttp + one arq enqueue_job): {b_rps:7.0f} req/s  p50 {b_p50:5.1f} ms  p99 {b_p99:5.1f} ms")
        print(f"POST /api/messages/send:                  {w_rps:7.0f} req/s  p50 {w_p50:5.1f} ms  p99 {w_p99:5.1f} ms")
        print(f"ratio wagate/baseline: {ratio:.2f} (target >= {TARGET_RATIO}); p99 {w_p99:.1f} ms "
              f"(target <= {TARGET_P99_MS:.0f} ms)")
        errors = sum(r.errors for r in results["wagate"])
        if errors:
            print(f"wagate answered {errors} requests with an error\n{wagate.tail()}")
        return 0 if ratio >= TARGET_RATIO and w_p99 <= TARGET_P99_MS and not errors else 1
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
