"""Broadcast acceptance: wall time and the web process's peak RSS to accept a 100,000-row CSV through the API.

A `python -m wagate web` process on SQLite (or MariaDB with --mariadb), one linked WORKING session, an admin API
key. Each round POSTs a multipart form (name, template `Halo {nama}, kode {kode}`, session, the CSV as `file`) to
/api/broadcast and times it until the 201, which comes once the broadcast and every recipient are committed; the
stored recipients are then counted, so the figure "until stored" is the 201 plus that check. The CSV has a
header `phone,nama,kode` and distinct `0812…` numbers (local numbers of the default region, ID). Peak RSS is the
web process's VmHWM from /proc, reset before each round (clear_refs 5), so a round's peak is its own. No worker
runs: the broadcasts stay `running`, unexpanded.

    .venv/bin/python -m bench.broadcast [--rows 100000] [--rounds 3] [--mariadb]
"""

from __future__ import annotations

import argparse
import sys
import time

import aiohttp
from sqlalchemy import func, select

from bench.common import (
    Stack,
    add_linked_sessions,
    free_port,
    median,
    proc_mb,
    reset_peak_rss,
    run_on_stack,
    wait_http,
)
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import SessionStatus
from wagate.db.models_delivery import BroadcastRecipient
from wagate.services.identity import bootstrap

TARGET_S, TARGET_MB = 15.0, 250.0
SESSION = "bc-1"


def csv_bytes(rows: int) -> bytes:
    """`rows` distinct local mobile numbers with a name and one variable, as a spreadsheet export would have them."""
    lines = ["phone,nama,kode"]
    lines.extend(f"0812{10_000_000 + i},Pelanggan {i},K{i % 997:03d}" for i in range(rows))
    return ("\n".join(lines) + "\n").encode()


async def upload(http: aiohttp.ClientSession, url: str, data: bytes, n: int) -> tuple[int, dict[str, object]]:
    form = aiohttp.FormData()
    form.add_field("name", f"Promo {n}")
    form.add_field("template", "Halo {nama}, kode {kode}")
    form.add_field("session", SESSION)
    form.add_field("file", data, filename="pelanggan.csv", content_type="text/csv")
    async with http.post(url, data=form) as response:
        return response.status, await response.json()


async def run(stack: Stack, args: argparse.Namespace) -> int:
    settings = stack.settings
    engine = create_engine(settings)
    db = create_sessionmaker(engine)
    await add_linked_sessions(db, settings, [SESSION], status=SessionStatus.WORKING)
    key = (await bootstrap.create_api_key(settings, "bench", role="admin")).plaintext
    port = free_port()
    web = stack.wagate("web", "web", "--port", str(port)).start()
    data = csv_bytes(args.rows)
    try:
        await wait_http(f"http://127.0.0.1:{port}/health", child=web)
        url = f"http://127.0.0.1:{port}/api/broadcast"
        print(f"{args.rows} rows, {len(data) / 1e6:.1f} MB CSV, {'MariaDB' if args.mariadb else 'SQLite'}; "
              f"web idle RSS {proc_mb(web.pid, 'VmRSS'):.0f} MB", flush=True)
        answered: list[float] = []
        stored: list[float] = []
        peaks: list[float] = []
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(headers={"x-api-key": key}, timeout=timeout) as http:
            for n in range(args.rounds):
                reset_peak_rss(web.pid)
                started = time.perf_counter()
                status, body = await upload(http, url, data, n)
                took = time.perf_counter() - started
                if status != 201:
                    raise RuntimeError(f"POST /api/broadcast answered {status}: {str(body)[:2000]}\n{web.tail()}")
                broadcast_id = body["data"]["id"]  # type: ignore[index]
                async with db() as session:
                    count = await session.scalar(select(func.count()).select_from(BroadcastRecipient)
                                                 .where(BroadcastRecipient.broadcast_id == broadcast_id))
                until_stored = time.perf_counter() - started
                if count != args.rows:
                    raise RuntimeError(f"broadcast {broadcast_id} has {count} recipients, not {args.rows}")
                peak = proc_mb(web.pid, "VmHWM")
                answered.append(took)
                stored.append(until_stored)
                peaks.append(peak)
                print(f"round {n + 1}: 201 after {took:6.2f} s, {count} recipients stored after {until_stored:6.2f} s,"
                      f" web peak RSS {peak:5.0f} MB", flush=True)
        took, peak = median(answered), max(peaks)
        print(f"\nmedian of {args.rounds}: accepted in {took:.2f} s (stored {median(stored):.2f} s); "
              f"highest peak RSS {peak:.0f} MB")
        print(f"targets: <= {TARGET_S:.0f} s, <= {TARGET_MB:.0f} MB: "
              f"{'met' if took <= TARGET_S and peak <= TARGET_MB else 'NOT met'}")
        return 0 if took <= TARGET_S and peak <= TARGET_MB else 1
    finally:
        web.stop()
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mariadb", action="store_true", help="a private MariaDB instead of SQLite")
    return run_on_stack(run, parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
