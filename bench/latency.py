"""Idle latency: from the 202 of POST /api/messages/send to the transport's send call, one message at a time.

A web and a bridge process (simulator, pacing off) on one Valkey and SQLite (or MariaDB with --mariadb), one
linked session. Each message is posted after the previous one was sent and a short random pause, so the
bridge is idle every time: the figure is the wake-up path (send job or nudge → sender → `sending` row →
transport), not throughput. The send call's time comes from the simulator's durable sent log, written inside
the transport's send; both clocks are this machine's wall clock.

    .venv/bin/python -m bench.latency [--messages 200] [--mariadb]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

import aiohttp
from sqlalchemy import select

from bench.common import NO_PACING, Stack, add_linked_sessions, free_port, median, percentile, wait_http
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.services.identity import bootstrap
from wagate.transport.simulator.wire import read_sent_log, sent_log_file

TARGET_P50_MS, TARGET_P99_MS = 10.0, 50.0


async def run(stack: Stack, n: int) -> int:
    settings = stack.settings
    engine = create_engine(settings)
    db = create_sessionmaker(engine)
    await add_linked_sessions(db, settings, ["lat-1"])
    key = (await bootstrap.create_api_key(settings, "bench", role="admin")).plaintext
    port = free_port()
    web = stack.wagate("web", "web", "--port", str(port)).start()
    bridge = stack.wagate("bridge", "bridge", "--shard", "0").start()
    log = sent_log_file(settings.auth_sessions_dir)
    try:
        await wait_http(f"http://127.0.0.1:{port}/health", child=web)
        deadline = time.monotonic() + 60
        while True:
            async with db() as session:
                status = await session.scalar(select(WaSession.status).where(WaSession.id == "lat-1"))
            if status == SessionStatus.WORKING:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"session not connected\n{bridge.tail()}")
            await asyncio.sleep(0.1)
        await engine.dispose()
        latencies: list[float] = []
        url = f"http://127.0.0.1:{port}/api/messages/send"
        async with aiohttp.ClientSession(headers={"x-api-key": key}) as http:
            for i in range(n + 10):  # the first 10 warm up the connections and caches
                seen, size = len(read_sent_log(log)), _size(log)
                async with http.post(url, json={"session": "lat-1", "to": f"62812{i:07d}", "message": f"uji {i}"}) as r:
                    assert r.status == 202, await r.text()
                    accepted = time.time()
                until = time.monotonic() + 30
                # Watch the file's size, not its parsed lines: this loop shares the machine's cores with the
                # processes it measures, and re-reading a growing log every 0.5 ms would slow them down.
                while _size(log) <= size or len(entries := read_sent_log(log)) <= seen:
                    if time.monotonic() > until:
                        raise TimeoutError(f"message {i} not sent in 30 s\n{bridge.tail()}")
                    await asyncio.sleep(0.0005)
                if i >= 10:
                    latencies.append(max(0.0, (float(entries[seen]["at"]) - accepted) * 1000))  # type: ignore[arg-type]
                await asyncio.sleep(random.uniform(0.05, 0.15))
        p50, p99 = median(latencies), percentile(latencies, 99)
        print(f"{n} messages, one at a time, {'MariaDB' if stack.mariadb else 'SQLite'}")
        print(f"accept -> transport send: p50 {p50:.1f} ms  p90 {percentile(latencies, 90):.1f} ms  "
              f"p99 {p99:.1f} ms  max {max(latencies):.1f} ms")
        print(f"targets: p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms")
        return 0 if p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS else 1
    finally:
        web.stop()
        bridge.stop()
        await engine.dispose()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--mariadb", action="store_true", help="a private MariaDB instead of SQLite")
    args = parser.parse_args()
    stack = Stack(mariadb=args.mariadb, environ=NO_PACING)
    try:
        return asyncio.run(run(stack, args.messages))
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
