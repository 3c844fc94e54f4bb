"""Reconnect storm: time for 1,000 linked simulator sessions to be connected again after a bridge restart.

A bridge resumes 1,000 sessions linked in the simulator until the database shows every one WORKING; then it is
restarted, gracefully (SIGTERM: it drains and releases its leases) and, in a second round, killed (SIGKILL: the
next process takes over the dead one's leases). The figure is the time from the new process's start to the last
session's `connected_at` after it (a WORKING session stays WORKING while it reconnects, so the status alone
would show nothing), with the 50th and 90th percentile of the sessions' reconnect times, and the bridge's RSS.

The simulator connects as fast as the bridge asks; the neonize transport connects one session at a time,
`connect_stagger_s` (100 ms) apart (NEONIZE.md pitfall 4), so with real WhatsApp the same restart takes at least
N x 0.1 s for the Go connect calls alone (printed beside the measured figure as the neonize bound).

    .venv/bin/python -m bench.reconnect [--sessions 1000] [--mariadb]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime

from sqlalchemy import select

from bench.common import Child, Stack, add_linked_sessions, percentile, proc_mb, run_on_stack
from bench.sessions import all_working, started
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.models_whatsapp import WaSession
from wagate.db.types import utcnow
from wagate.transport.neonize.session import NeonizeBase

TARGET_S = 60.0  # 1,000 simulator sessions connected again within a minute of the restart


async def reconnected(db: object, n: int, since: datetime, bridge: Child, within_s: float) -> list[float]:
    """Seconds after `since` at which each of the n sessions connected again (once all of them have)."""
    began = time.monotonic()
    while True:
        async with db() as session:  # type: ignore[operator]
            times = list(await session.scalars(select(WaSession.connected_at).where(WaSession.connected_at >= since)))
        if len(times) >= n:
            return sorted((t.replace(tzinfo=since.tzinfo) - since).total_seconds() for t in times)
        if time.monotonic() - began > within_s or not bridge.alive():
            raise RuntimeError(f"{len(times)} of {n} sessions reconnected after {time.monotonic() - began:.0f} s\n"
                               f"{bridge.tail()}")
        await asyncio.sleep(0.25)


async def run(stack: Stack, args: argparse.Namespace) -> int:
    n = args.sessions
    engine = create_engine(stack.settings)
    db = create_sessionmaker(engine)
    worst = 0.0
    try:
        await add_linked_sessions(db, stack.settings, [f"storm-{k:04d}" for k in range(n)])
        bridge = stack.wagate("bridge-1", "bridge", "--shard", "0", LOG_STDERR_LEVEL="INFO").start()
        first = await all_working(db, n, bridge, within_s=max(120.0, n * 0.5))
        print(f"reconnect storm, simulator, {'MariaDB' if stack.mariadb else 'SQLite'}, {n} linked sessions")
        print(f"  first start: all {n} WORKING after {first:.1f} s")
        for round_, how in ((2, "SIGTERM"), (3, "SIGKILL")):
            bridge.stop() if how == "SIGTERM" else bridge.kill()
            since = utcnow()
            bridge = stack.wagate(f"bridge-{round_}", "bridge", "--shard", "0", LOG_STDERR_LEVEL="INFO").start()
            await started(bridge, within_s=120.0)
            times = await reconnected(db, n, since, bridge, within_s=max(180.0, n * 0.5))
            worst = max(worst, times[-1])
            rss = proc_mb(bridge.pid, "VmRSS")
            print(f"  restart after {how}: all {n} connected again {times[-1]:.1f} s after the new process started "
                  f"(p50 {percentile(times, 50):.1f} s, p90 {percentile(times, 90):.1f} s); bridge RSS {rss:.0f} MB")
        bridge.stop()
    finally:
        await engine.dispose()
    stagger = NeonizeBase.__init__.__kwdefaults__["connect_stagger_s"]  # type: ignore[index]
    print(f"  neonize bound: Go connects one at a time, {stagger * 1000:.0f} ms apart: >= {n * stagger:.0f} s for "
          f"{n} sessions before WhatsApp's own handshake time")
    met = worst <= TARGET_S
    print(f"  target: all connected within {TARGET_S:.0f} s of the restart: {'met' if met else 'NOT met'}")
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--mariadb", action="store_true", help="a private MariaDB instead of SQLite")
    return run_on_stack(run, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
