"""Soak: N simulator sessions WORKING, an open-loop load of R requests/s, every event a webhook to a local receiver.

web, bridge (one shard) and worker as separate processes on a private Valkey and SQLite (or MariaDB with
--mariadb), default pacing, one global webhook for every event ("*") to an aiohttp receiver in this process.
First the idle cost: each process's CPU (% of one core) with the N sessions WORKING and nothing to do. Then R
requests/s for --seconds, sent on a fixed schedule whatever the answers (open loop): half sends through
POST /api/messages/send (N sessions in turn), half incoming messages played by the simulator (a
`simulator_control` job per message, as POST /simulator/sessions/{id}/inbound enqueues). Then up to --drain
seconds for everything accepted to be sent and every incoming message's webhook to arrive. Printed: send
acceptance latency, the backlog every 5 s (messages not yet sent, deliveries not yet made), accept -> sent and
incoming -> webhook latency, CPU ms per message per process, RSS, error lines logged, job runs per webhook
delivery, and what was lost. With --max-rates, steps of --step-seconds at each rate: the highest sustainable R
(everything drained within --step-drain seconds of the step's end, nothing lost). The machine is shared: read
the ratios and the per-message CPU, which move less than the latencies.

    .venv/bin/python -m bench.soak [--sessions 1000] [--rate 20] [--seconds 120] [--mariadb] [--max-rates 50,100,200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import func, select

from bench.common import (
    Child,
    Stack,
    add_linked_sessions,
    free_port,
    percentile,
    proc_mb,
    py_spy,
    run_on_stack,
    wait_http,
)
from bench.fault import SystemActor
from bench.pipeline import cpu_seconds
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import DeliveryStatus, Direction, MessageStatus, SessionStatus
from wagate.db.models_delivery import WebhookDelivery
from wagate.db.models_whatsapp import Message, WaSession
from wagate.services.identity import bootstrap
from wagate.services.sessions.lifecycle import control_simulator
from wagate.services.webhooks import endpoints
from wagate.web.app import redis_client

TARGETS = {"idle_cpu_pct": 5.0, "cpu_ms_per_message": 5.0, "accept_p50_ms": 20.0, "accept_p99_ms": 100.0,
           "max_rate": 200.0}
SENT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)
SAMPLE_S = 5.0


@dataclass
class Received:
    """What the webhook receiver saw: arrival times of incoming messages' webhooks, by their text; counts by event."""

    inbound: dict[str, float] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        self.events[body["event"]] = self.events.get(body["event"], 0) + 1
        if body["event"] == "message.received":
            self.inbound[str(body["data"].get("message"))] = time.time()
        return web.Response(text="ok")


@dataclass
class Round:
    """One load run: what was asked, what answered, when."""

    rate: float
    accept_ms: list[float] = field(default_factory=list)
    refused: int = 0
    injected: dict[str, float] = field(default_factory=dict)  # incoming message text -> when it was asked for
    first_id: int = 0


class Soak:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack, self.args = stack, args
        self.settings = stack.settings
        self.engine = create_engine(self.settings)
        self.db = create_sessionmaker(self.engine)
        self.redis = redis_client(self.settings.redis_url or "")
        self.sessions = [f"soak-{k:04d}" for k in range(args.sessions)]
        self.received = Received()
        self.children: dict[str, Child] = {}
        self.port = free_port()
        self.key = ""
        self.seq = itertools.count()
        self.error_events: Counter[str] = Counter()

    def pids(self) -> dict[str, int]:
        pids = {name: child.pid for name, child in self.children.items()}
        pids["valkey"] = self.stack.valkey.pid or 0
        if self.stack.mariadb is not None:
            pids["mariadb"] = self.stack.mariadb.pid or 0
        return pids

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", self.received.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        caller = endpoints.Caller(SystemActor())
        await endpoints.create_webhook(self.db, self.settings, caller, {"url": url, "events": "*"})
        self.key = (await bootstrap.create_api_key(self.settings, "soak", role="admin")).plaintext
        await add_linked_sessions(self.db, self.settings, self.sessions)
        self.children["web"] = self.stack.wagate("web", "web", "--port", str(self.port)).start()
        self.children["worker"] = self.stack.wagate("worker", "worker").start()
        self.children["bridge"] = self.stack.wagate("bridge", "bridge", "--shard", "0").start()
        await wait_http(f"http://127.0.0.1:{self.port}/health", child=self.children["web"])
        began = time.monotonic()
        while (working := await self.count_working()) < len(self.sessions):
            if time.monotonic() - began > max(180.0, len(self.sessions) * 0.5):
                raise RuntimeError(f"{working} of {len(self.sessions)} WORKING\n{self.children['bridge'].tail()}")
            await asyncio.sleep(1)
        print(f"{len(self.sessions)} sessions WORKING after {time.monotonic() - began:.0f} s", flush=True)
        await self.settle(120.0)
        return runner

    async def count_working(self) -> int:
        async with self.db() as session:
            return int(await session.scalar(select(func.count()).select_from(WaSession).where(
                WaSession.status == SessionStatus.WORKING)) or 0)

    async def backlog(self, since_id: int = 0) -> tuple[int, int]:
        """(outgoing messages not yet sent, webhook deliveries not yet made)."""
        async with self.db() as session:
            unsent = await session.scalar(select(func.count()).select_from(Message).where(
                Message.id > since_id, Message.direction == Direction.OUTBOUND,
                Message.status.in_((MessageStatus.QUEUED, MessageStatus.SENDING))))
            pending = await session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DELIVERING))))
        return int(unsent or 0), int(pending or 0)

    async def settle(self, within_s: float) -> None:
        """Until the start-up's webhooks (connection events of every session) are delivered."""
        deadline = time.monotonic() + within_s
        while (await self.backlog())[1] and time.monotonic() < deadline:  # noqa: ASYNC110 - rows of other processes
            await asyncio.sleep(1)

    async def idle(self, seconds: float) -> dict[str, float]:
        """Each process's CPU, in % of one core, over `seconds` of nothing to do."""
        before, began = self.cpu(), time.monotonic()
        await asyncio.sleep(seconds)
        after, took = self.cpu(), time.monotonic() - began
        return {name: (after[name] - before[name]) * 100 / took for name in before}

    async def load(self, rate: float, seconds: float, http: aiohttp.ClientSession) -> Round:
        """R requests/s on a fixed schedule, half sends and half incoming messages; returns once all were answered."""
        run = Round(rate)
        async with self.db() as session:
            run.first_id = int(await session.scalar(select(func.max(Message.id))) or 0)
        url = f"http://127.0.0.1:{self.port}/api/messages/send"

        async def send(k: int) -> None:
            began = time.perf_counter()
            body = {"session": self.sessions[k % len(self.sessions)], "to": f"62812{k % 10_000_000:07d}",
                    "message": f"soak out {k}"}
            try:
                async with http.post(url, json=body) as response:
                    await response.read()
                    if response.status != 202:
                        run.refused += 1
                        return
            except aiohttp.ClientError:
                run.refused += 1
                return
            run.accept_ms.append((time.perf_counter() - began) * 1000)

        async def inject(k: int) -> None:
            text = f"soak in {k}"
            run.injected[text] = time.time()
            await control_simulator(self.db, self.redis, self.settings, self.sessions[k % len(self.sessions)],
                                    "inject_message", {"from_phone": f"62813{k % 10_000_000:07d}", "text": text})

        tasks: list[asyncio.Task[None]] = []
        start, n = time.monotonic(), int(rate * seconds)
        backlog_task = asyncio.create_task(self.watch(run, start))
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            k = next(self.seq)
            tasks.append(asyncio.create_task(send(k) if i % 2 == 0 else inject(k)))
        await asyncio.gather(*tasks)
        backlog_task.cancel()
        return run

    async def watch(self, run: Round, start: float) -> None:
        while True:
            await asyncio.sleep(SAMPLE_S)
            unsent, pending = await self.backlog(run.first_id)
            print(f"  t={time.monotonic() - start:5.0f} s  unsent {unsent:6d}  webhooks pending {pending:6d}",
                  flush=True)

    async def drain(self, run: Round, within_s: float) -> tuple[float | None, int, int]:
        """Seconds until every accepted send is sent and every incoming message's webhook arrived (None: not within
        `within_s`), and what is still missing then: (unsent, incoming without webhook)."""
        began = time.monotonic()
        while True:
            unsent, _ = await self.backlog(run.first_id)
            missing = sum(1 for text in run.injected if text not in self.received.inbound)
            if not unsent and not missing:
                return time.monotonic() - began, 0, 0
            if time.monotonic() - began > within_s:
                return None, unsent, missing
            await asyncio.sleep(0.5)

    async def accept_to_sent_ms(self, run: Round) -> list[float]:
        async with self.db() as session:
            rows = (await session.execute(select(Message.created_at, Message.sent_at).where(
                Message.id > run.first_id, Message.direction == Direction.OUTBOUND,
                Message.status.in_(SENT)))).all()
        return [(sent - created).total_seconds() * 1000 for created, sent in rows if sent is not None]

    def log_counts(self, offsets: dict[str, int]) -> dict[str, int]:
        """Error lines and deliver_webhook job runs logged since `offsets` (file positions)."""
        logs = self.settings.log_dir
        errors = _read_from(logs / "error.log", offsets.get("error", 0)).splitlines()
        jobs = _read_from(logs / "combined.log", offsets.get("combined", 0)).count('"job": "deliver_webhook"')
        self.error_events = Counter(_event_of(line) for line in errors)
        return {"errors": len(errors), "webhook_jobs": jobs}

    def offsets(self) -> dict[str, int]:
        logs = self.settings.log_dir
        return {name: _size(logs / f"{name}.log") for name in ("error", "combined")}

    async def delivered_since(self, since: float) -> int:
        async with self.db() as session:
            return int(await session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.status == DeliveryStatus.DELIVERED,
                WebhookDelivery.delivered_at >= _utc(since))) or 0)

    async def close(self) -> None:
        for child in self.children.values():
            child.stop()
        await self.redis.aclose()
        await self.engine.dispose()


def _utc(epoch: float) -> object:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _event_of(line: str) -> str:
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:60]
    return f"{entry.get('event')}" + (f" ({entry['kind']})" if "kind" in entry else "")


def _took(seconds: float | None, otherwise: str) -> str:
    return otherwise if seconds is None else f"in {seconds:.1f} s"


def _ms(values: list[float]) -> str:
    if not values:
        return "none"
    return f"p50 {percentile(values, 50):.0f} ms  p99 {percentile(values, 99):.0f} ms  max {max(values):.0f} ms"


async def soak_round(soak: Soak, rate: float, seconds: float, drain_s: float, http: aiohttp.ClientSession,
                     *, report: bool) -> tuple[bool, dict[str, float]]:
    """One load run and its drain; prints its figures when `report`. (sustained, figures)."""
    offsets, cpu_before, wall = soak.offsets(), soak.cpu(), time.time()
    spies = [py_spy(soak.children[name].pid, seconds, f"{soak.args.profile}.{name}")
             for name in ("bridge", "worker") if report and soak.args.profile]
    run = await soak.load(rate, seconds, http)
    for spy in spies:
        spy.wait()
    drained_in, unsent, missing = await soak.drain(run, drain_s)
    cpu = {name: (t - cpu_before[name]) * 1000 for name, t in soak.cpu().items()}
    messages = len(run.accept_ms) + len(run.injected)
    counts = soak.log_counts(offsets)
    delivered = await soak.delivered_since(wall)
    per_message = sum(cpu.values()) / max(1, messages)
    sustained = drained_in is not None and run.refused == 0
    figures = {"accept_p50_ms": percentile(run.accept_ms, 50), "accept_p99_ms": percentile(run.accept_ms, 99),
               "cpu_ms_per_message": per_message, "lost": unsent + missing + run.refused}
    if report:
        to_sent = await soak.accept_to_sent_ms(run)
        hooks = soak.received.inbound
        to_hook = [(hooks[t] - at) * 1000 for t, at in run.injected.items() if t in hooks]
        print(f"R = {rate:g}/s for {seconds:g} s: {len(run.accept_ms)} sends accepted ({run.refused} refused), "
              f"{len(run.injected)} incoming messages")
        print(f"  send acceptance:        {_ms(run.accept_ms)}")
        print(f"  accept -> sent:         {_ms(to_sent)}")
        print(f"  incoming -> webhook:    {_ms(to_hook)}")
        print(f"  drained {_took(drained_in, f'NOT within {drain_s:g} s')} "
              f"after the load; lost: {unsent} unsent, {missing} incoming without webhook")
        print("  CPU ms per message:     " + "  ".join(f"{n} {v / max(1, messages):.2f}" for n, v in cpu.items())
              + f"  all {per_message:.2f}")
        rss = "  ".join(f"{n} {proc_mb(p, 'VmRSS'):.0f}" for n, p in soak.pids().items())
        print(f"  RSS MB:                 {rss}")
        print(f"  error lines logged: {counts['errors']}; webhooks delivered {delivered}, deliver_webhook job runs "
              f"{counts['webhook_jobs']} ({counts['webhook_jobs'] / max(1, delivered):.2f} per delivery)", flush=True)
        if soak.error_events:
            print("  error lines: " + ", ".join(f"{n} x {e}" for e, n in soak.error_events.most_common(5)))
    else:
        print(f"  R = {rate:g}: {'sustained' if sustained else 'NOT sustained'} (drained "
              f"{_took(drained_in, 'no')}, accept {_ms(run.accept_ms)}, "
              f"CPU {per_message:.2f} ms/message, lost {figures['lost']:.0f}, errors {counts['errors']})", flush=True)
    figures["errors"] = counts["errors"]
    return sustained and not figures["lost"], figures


async def run(stack: Stack, args: argparse.Namespace) -> int:
    soak = Soak(stack, args)
    runner = await soak.start()
    missed: list[str] = []
    try:
        print(f"soak, {len(soak.sessions)} sessions, {'MariaDB' if args.mariadb else 'SQLite'}, default pacing, "
              f"every event a webhook; the machine is shared", flush=True)
        idle = await soak.idle(args.idle)
        total_idle = sum(idle.values())
        print(f"idle for {args.idle:g} s, % of one core: " + "  ".join(f"{n} {v:.1f}" for n, v in idle.items())
              + f"  all {total_idle:.1f}", flush=True)
        if total_idle > TARGETS["idle_cpu_pct"]:
            missed.append(f"idle CPU {total_idle:.1f} % > {TARGETS['idle_cpu_pct']:g} %")
        async with aiohttp.ClientSession(headers={"x-api-key": soak.key},
                                         connector=aiohttp.TCPConnector(limit=256)) as http:
            if args.seconds > 0:  # 0: the idle figures only
                _, figures = await soak_round(soak, args.rate, args.seconds, args.drain, http, report=True)
                for name in ("accept_p50_ms", "accept_p99_ms", "cpu_ms_per_message"):
                    if figures[name] > TARGETS[name]:
                        missed.append(f"{name} {figures[name]:.1f} > {TARGETS[name]:g}")
                if figures["lost"] or figures["errors"]:
                    missed.append(f"{figures['lost']:.0f} lost, {figures['errors']:.0f} error lines")
            if args.max_rates:
                best = 0.0
                print(f"highest sustainable R: steps of {args.step_seconds:g} s, drained within {args.step_drain:g} s")
                for rate in (float(r) for r in args.max_rates.split(",")):
                    sustained, _ = await soak_round(soak, rate, args.step_seconds, args.step_drain, http, report=False)
                    if not sustained:
                        await soak.drain(Round(rate, first_id=0), 120.0)  # let the backlog go before stopping
                        break
                    best = rate
                print(f"  highest sustainable R: {best:g}/s (target >= {TARGETS['max_rate']:g})", flush=True)
                if best < TARGETS["max_rate"]:
                    missed.append(f"highest sustainable R {best:g} < {TARGETS['max_rate']:g}")
    finally:
        await runner.cleanup()
        await soak.close()
    print("targets: " + ("all met" if not missed else "NOT met: " + "; ".join(missed)), flush=True)
    return 0 if not missed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s, half sends and half incoming")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--drain", type=float, default=240.0, help="seconds allowed after the load to catch up")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle CPU measurement")
    parser.add_argument("--max-rates", default="", help="comma-separated rates to step through, e.g. 50,100,200")
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--step-drain", type=float, default=20.0)
    parser.add_argument("--mariadb", action="store_true", help="a private MariaDB instead of SQLite")
    parser.add_argument("--profile", metavar="PREFIX", help="py-spy the bridge and worker during the load into "
                        "PREFIX.bridge and PREFIX.worker (raw stacks)")
    args = parser.parse_args()
    return run_on_stack(run, args, environ={"WEBHOOK_ALLOW_PRIVATE": "true", "BRIDGE_SHARDS": "1"})


if __name__ == "__main__":
    sys.exit(main())
