"""Offline for a day: file descriptors and RSS of the neonize transport (the real Go core) with 50 sessions that
cannot reach WhatsApp, retrying with a short backoff so that a day of retries takes a minute or two.

At the 60 s backoff cap a session offline for a day tries 1,440 times; 50 sessions, 72,000 tries. Each try that
reaches neonize's Go core opens a SQLite store it never closes (+1 fd, ~180 KB: defect 2 of the neonize review).
Two runs, each in a child process that imports neonize 0.5.2 and drives `NeonizeTransport` as a bridge does:

- host-checked (the transport as shipped): before each try the transport checks that web.whatsapp.com answers;
  while it does not, the Go core is not called. The run makes the day's 72,000 tries and reads fds and RSS
  after a warm-up and at the end.
- straight into the Go core (the check off, as when WhatsApp's host answers but the connection is refused): each
  try leaks a store, and at `max_open_stores` the transport asks for a restart (a bridge drains and its
  supervisor starts a fresh process). The child then exits and is started again, like the bridge; the run lasts
  `--go-seconds` and prints each process's tries and its peak fds and RSS: a sawtooth with a fixed top.

    .venv/bin/python -m bench.offline [--sessions 50] [--tries-per-session 1440] [--go-seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT

DAY_TRIES = 1440  # a day at the 60 s backoff cap


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


async def offline(folder: Path, sessions: int, tries: int, checked: bool, max_open_stores: int,
                  seconds: float) -> dict[str, Any]:
    """Drive `sessions` offline sessions until `tries` failed tries in all (or the transport asks for a restart,
    or `seconds` pass); fds and RSS after a warm-up and at the end, and the peaks."""
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only: 72,000 retries
    from wagate.transport.base import ConnectFailed, StoresLeftOpen, TransportEvent
    from wagate.transport.neonize import NeonizeTransport, import_neonize, prepare_event_loop

    import_neonize()
    prepare_event_loop(sessions)
    failed = 0
    restart = asyncio.Event()

    async def sink(event: TransportEvent) -> None:
        nonlocal failed
        if isinstance(event, ConnectFailed):
            failed += 1
            if failed >= sessions:
                warm.set()
        elif isinstance(event, StoresLeftOpen):
            restart.set()

    options: dict[str, Any] = {} if checked else {"network_probe": None}
    # The stagger stays (100 ms): the Go connects of a 0 s stagger overlap and the core dies ("concurrent map writes",
    # pitfall 4), since connect() returns before its Go call has begun.
    transport = NeonizeTransport(sink, auth_dir=folder, reconnect_backoff=(0.01,), backoff_jitter=0.0,
                                 max_open_stores=max_open_stores, **options)
    figures: dict[str, Any] = {"checked": checked}
    began = time.monotonic()
    for k in range(sessions):
        await transport.connect(f"off-{k:02d}")
    warm = asyncio.Event()  # every client made and tried once, its threads started
    figures.update(warm_fds=fds(), warm_rss=rss_mb(), warm_tries=failed)
    peak_fds, peak_rss = figures["warm_fds"], figures["warm_rss"]
    while failed < tries and not restart.is_set() and time.monotonic() - began < seconds:
        await asyncio.sleep(0.25)
        peak_fds, peak_rss = max(peak_fds, fds()), max(peak_rss, rss_mb())
    figures.update(end_fds=fds(), end_rss=rss_mb(), peak_fds=peak_fds, peak_rss=peak_rss, tries=failed,
                   seconds=time.monotonic() - began, restart=restart.is_set(),
                   stores_left_open=transport.stores_left_open)
    return figures  # the process ends with os._exit: stopping 50 clients stuck in Go only costs time


def child(args: argparse.Namespace, checked: bool, seconds: float, out: Path) -> dict[str, Any] | None:
    folder = Path(tempfile.mkdtemp(prefix="wagate-offline-"))
    argv = [PYTHON, "-m", "bench.offline", "--child", str(folder), str(out), "1" if checked else "0",
            str(args.sessions), str(args.sessions * args.tries_per_session), str(args.max_open_stores), str(seconds)]
    with (folder / "child.out").open("wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            process.wait(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if not out.exists():
        print(f"  the measuring process left no figures (exit {process.returncode}); see {folder / 'child.out'}")
        return None
    figures: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--tries-per-session", type=int, default=DAY_TRIES)
    parser.add_argument("--max-open-stores", type=int, default=400)
    parser.add_argument("--go-seconds", type=float, default=60.0)
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, out, checked, sessions, tries, max_open, seconds = args.child
        figures = asyncio.run(offline(Path(folder), int(sessions), int(tries), checked == "1", int(max_open),
                                      float(seconds)))
        Path(out).write_text(json.dumps(figures))
        sys.stdout.flush()
        os._exit(0)
    out = Path(tempfile.mkdtemp(prefix="wagate-offline-out-")) / "figures.json"
    n, day = args.sessions, args.sessions * args.tries_per_session
    print(f"offline for a day: neonize 0.5.2, {n} sessions, {args.tries_per_session} tries each ({day} in all)")
    f = child(args, True, 600.0, out)
    if f is not None:
        print(f"  host-checked: {f['tries']} tries in {f['seconds']:.0f} s; fds {f['warm_fds']} -> {f['end_fds']} "
              f"(peak {f['peak_fds']}), RSS {f['warm_rss']:.1f} -> {f['end_rss']:.1f} MB (peak {f['peak_rss']:.1f}); "
              f"stores left open {f['stores_left_open']}")
    lives: list[dict[str, Any]] = []
    began = time.monotonic()
    while time.monotonic() - began < args.go_seconds:
        f = child(args, False, args.go_seconds - (time.monotonic() - began), out)
        if f is None:
            break
        lives.append(f)
        if not f["restart"]:
            break
    for k, f in enumerate(lives, 1):
        print(f"  straight into Go, process {k}: {f['tries']} tries in {f['seconds']:.1f} s, stores left open "
              f"{f['stores_left_open']}, fds {f['warm_fds']} -> peak {f['peak_fds']}, RSS {f['warm_rss']:.1f} -> "
              f"peak {f['peak_rss']:.1f} MB{', restart asked' if f['restart'] else ''}")
    if lives:
        tries = sum(f["tries"] for f in lives)
        per_try = [(f["peak_rss"] - f["warm_rss"]) * 1024 / max(1, f["tries"] - f["warm_tries"]) for f in lives]
        print(f"  straight into Go: {tries} tries over {len(lives)} processes; the top of each: "
              f"{max(f['peak_fds'] for f in lives)} fds, {max(f['peak_rss'] for f in lives):.1f} MB "
              f"(~{sum(per_try) / len(per_try):.0f} KB per try until the restart); a day's {day} tries would take "
              f"{day // max(1, args.max_open_stores)} restarts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
