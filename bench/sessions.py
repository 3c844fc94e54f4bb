"""Sessions: the bridge's RSS with 1,000 simulator sessions linked and WORKING, and the RSS of idle neonize clients.

Bridge: first a bridge process with no session (its RSS once started is the baseline), then, in the same stack,
1,000 sessions linked in the simulator and a new bridge that resumes them all; once the database shows every one
WORKING and a few seconds passed, its VmRSS and VmHWM, and the growth over the empty bridge per session.

neonize: a separate process imports neonize 0.5.2, sizes the default executor and hands it the loop
(NEONIZE.md pitfalls 1 and 2), creates N `NewAClient`s (one SQLite store each, none logged in), then calls
`connect()` on each, 100 ms apart (pitfall 4). This machine has no route to WhatsApp: each connect fails within
milliseconds and neonize does not retry, so the last figure is of clients created and after one failed connect
attempt, not of live sessions. RSS is read after the import, after creating and after the connects; the
process ends with os._exit (stopping N unconnected clients only costs time) and is killed if it hangs.

    .venv/bin/python -m bench.sessions [--sessions 1000] [--clients 200] [--mariadb]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import Child, Stack, add_linked_sessions, proc_mb, run_on_stack
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import SessionStatus
from wagate.db.models_whatsapp import WaSession

TARGET_MB = 300.0
SETTLE_S = 5.0
CONNECT_GAP_S = 0.1  # NEONIZE.md pitfall 4: concurrent connects crash the Go core


async def started(bridge: Child, within_s: float = 60.0) -> None:
    """Until the bridge logged that it started (it has resumed its sessions by then, or begun to)."""
    deadline = time.monotonic() + within_s
    while b'"bridge started"' not in bridge.log_path.read_bytes():
        if time.monotonic() > deadline or not bridge.alive():
            raise RuntimeError(f"the bridge did not start\n{bridge.tail()}")
        await asyncio.sleep(0.2)


async def all_working(db: object, n: int, bridge: Child, within_s: float) -> float:
    """Seconds until the database shows n sessions WORKING."""
    began = time.monotonic()
    while True:
        async with db() as session:  # type: ignore[operator]
            working = await session.scalar(select(func.count()).select_from(WaSession).where(
                WaSession.status == SessionStatus.WORKING))
        if working >= n:
            return time.monotonic() - began
        if time.monotonic() - began > within_s or not bridge.alive():
            raise RuntimeError(f"{working} of {n} sessions WORKING after {time.monotonic() - began:.0f} s\n"
                               f"{bridge.tail()}")
        await asyncio.sleep(0.5)


async def bridge_figures(stack: Stack, n: int) -> bool:
    settings = stack.settings
    engine = create_engine(settings)
    db = create_sessionmaker(engine)
    try:
        # `started` reads the bridge's output for its start line: keep the INFO lines on stderr.
        empty = stack.wagate("bridge-empty", "bridge", "--shard", "0", LOG_STDERR_LEVEL="INFO").start()
        await started(empty)
        await asyncio.sleep(SETTLE_S)
        base = proc_mb(empty.pid, "VmRSS")
        empty.stop()
        await add_linked_sessions(db, settings, [f"load-{k:04d}" for k in range(n)])
        bridge = stack.wagate("bridge", "bridge", "--shard", "0", LOG_STDERR_LEVEL="INFO").start()
        took = await all_working(db, n, bridge, within_s=max(120.0, n * 0.5))
        await asyncio.sleep(SETTLE_S)
        rss, peak = proc_mb(bridge.pid, "VmRSS"), proc_mb(bridge.pid, "VmHWM")
        bridge.stop()
    finally:
        await engine.dispose()
    print(f"bridge, simulator, {'MariaDB' if stack.mariadb else 'SQLite'}", flush=True)
    print(f"  no session:                    RSS {base:6.1f} MB")
    print(f"  {n} sessions WORKING (after {took:.1f} s): RSS {rss:6.1f} MB, peak {peak:6.1f} MB")
    print(f"  per session: {(rss - base) * 1000 / n:.0f} kB (RSS growth over the empty bridge / {n})")
    print(f"  target: RSS <= {TARGET_MB:.0f} MB: {'met' if rss <= TARGET_MB else 'NOT met'}", flush=True)
    return rss <= TARGET_MB


async def neonize_clients(n: int, folder: Path) -> dict[str, float]:
    """RSS (MB) of this process at each step of creating n neonize clients and one connect attempt of each."""
    from concurrent.futures import ThreadPoolExecutor

    figures = {"before_import": proc_mb(os.getpid(), "VmRSS")}
    from neonize.aioze import events as neonize_events
    from neonize.aioze.client import NewAClient

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=n + 32))  # pitfall 1
    neonize_events.event_global_loop = loop  # pitfall 2
    figures["imported"] = proc_mb(os.getpid(), "VmRSS")
    clients = [NewAClient(str(folder / f"c{k}.sqlite3"), uuid=f"c{k}") for k in range(n)]
    await asyncio.sleep(1)
    figures["created"] = proc_mb(os.getpid(), "VmRSS")
    tasks = []
    for client in clients:
        tasks.append(await client.connect())
        await asyncio.sleep(CONNECT_GAP_S)
    done, pending = await asyncio.wait(tasks, timeout=30)
    figures["connect_failed"] = float(sum(1 for t in done if not t.cancelled() and t.exception() is not None))
    figures["connect_pending"] = float(len(pending))
    await asyncio.sleep(2)
    figures["after_connect"] = proc_mb(os.getpid(), "VmRSS")
    return figures


def neonize_figures(stack: Stack, n: int) -> None:
    out = stack.base / "neonize.json"
    child = stack.child("neonize", "-m", "bench.sessions", "--neonize-child", str(n), str(stack.base / "neonize"),
                        str(out)).start()
    assert child.process is not None
    try:
        child.process.wait(timeout=60 + n * CONNECT_GAP_S * 2)
    except Exception:
        child.kill()
        print(f"neonize: the measuring process hung and was killed\n{child.tail()}")
        return
    if not out.exists():
        print(f"neonize: no figures (exit {child.process.returncode})\n{child.tail()}")
        return
    f = json.loads(out.read_text())
    print(f"neonize 0.5.2, {n} NewAClient (no network: one connect attempt each, "
          f"{f['connect_failed']:.0f} failed, {f['connect_pending']:.0f} still pending after 30 s)")
    print(f"  process RSS: {f['before_import']:.1f} MB, after import {f['imported']:.1f} MB, "
          f"{n} created {f['created']:.1f} MB, after the connect attempts {f['after_connect']:.1f} MB")
    print(f"  per client: created {(f['created'] - f['imported']) * 1000 / n:.0f} kB, "
          f"created and one failed connect {(f['after_connect'] - f['imported']) * 1000 / n:.0f} kB")


async def run(stack: Stack, args: argparse.Namespace) -> int:
    met = await bridge_figures(stack, args.sessions)
    if args.clients:
        await asyncio.to_thread(neonize_figures, stack, args.clients)
    return 0 if met else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=200, help="neonize clients to create (0: none)")
    parser.add_argument("--mariadb", action="store_true", help="a private MariaDB instead of SQLite")
    parser.add_argument("--neonize-child", nargs=3, metavar=("N", "DIR", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.neonize_child:
        n, folder, out = args.neonize_child
        Path(folder).mkdir(parents=True, exist_ok=True)  # neonize's SQLite stores need their folder
        Path(out).write_text(json.dumps(asyncio.run(neonize_clients(int(n), Path(folder)))))
        sys.stdout.flush()
        os._exit(0)  # skip the clients' finalizers and neonize's threads at exit
    return run_on_stack(run, args)


if __name__ == "__main__":
    sys.exit(main())
