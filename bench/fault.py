"""Fault tolerance: a steady load of sends and inbound messages while processes and servers fail, one at a time.

Real processes on 127.0.0.1: `wagate web`, `wagate bridge --shard 0`, `wagate worker`, a private MariaDB, a
Valkey with an fsynced append-only file (as a production Redis is configured), and a webhook receiver process
that appends every delivery it gets to a JSON-lines file. Four simulator sessions; one global webhook for
`message.sent` and `message.received`. For each fault in turn:

  bridge-kill      SIGKILL the bridge, start a new one a second later
  worker-kill      SIGKILL the worker, start a new one a second later
  redis-restart    stop Valkey (SIGTERM), start it again 3 s later on the same port
  mariadb-restart  stop MariaDB, start it again 3 s later on the same port
  receiver-down    the webhook receiver is down for --outage seconds (60 by default)
  bridge-host-down a second bridge of the shard joins; the first's host dies (SIGSTOP: its process stops renewing
                   but still exists, as seen from another host); the row names the time until every session is
                   WORKING on the second; then the first is killed and restarted, and the second drained

the load runs before, during and after the fault; then the bench waits for the queues to drain and counts.
Sends are counted from the simulator's durable sent log (written inside the transport's send, so a killed
bridge's sends are in it), by the unique text of each message; a send repeated under a message id the session
already sent is not in it, as WhatsApp's recipients discard such a copy. Webhooks are counted from the
receiver's own record, by event and message. A request the gateway refused (an error answer during an outage)
was never accepted and counts in "refused" only: the caller knows to retry it.

    .venv/bin/python -m bench.fault [--faults bridge-kill,worker-kill,...] [--outage 60] [--load 8] [--rate 8]

A deploy instead (`--deploys rolling-restart,restart-all`): the shipped supervisord.conf (web ×2, bridge, worker)
and nginx.conf on a private MariaDB and Valkey, a steady stream of sends through nginx while every program is
restarted, by `wagate rolling-restart` or, for comparison, `supervisorctl restart all`; it counts the sends refused
(any answer but 202, or no answer) and whether each accepted one went out once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from redis.asyncio import Redis
from sqlalchemy import select

from bench.common import Stack, add_linked_sessions, free_port, wait_http
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import ActorType, SessionStatus
from wagate.db.models_whatsapp import WaSession
from wagate.db.types import utcnow
from wagate.queue.names import lease_key
from wagate.services.identity import bootstrap
from wagate.services.webhooks import endpoints
from wagate.transport.simulator.wire import read_sent_log, sent_log_file

FAULTS = ("bridge-kill", "worker-kill", "redis-restart", "mariadb-restart", "receiver-down", "bridge-host-down")
SESSIONS = [f"fault-{n}" for n in range(4)]
ENV = {
    "SEND_GAP_MS": "0", "BULK_GAP_MS": "0", "SEND_JITTER_MS": "0", "TYPING_MS_PER_CHAR": "0",
    "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_SLOW_S": "10,20,30", "WEBHOOK_TIMEOUT_S": "5",
}


def receiver(port: int, record: Path) -> None:
    """The webhook receiver: every POST appended to `record` (one JSON line, closed at once), answered 200."""
    from aiohttp import web

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        line = json.dumps({"delivery": request.headers.get("X-WAGate-Delivery"), "event": body.get("event"),
                           "data": body.get("data"), "at": time.time()})
        with record.open("a") as f:
            f.write(line + "\n")
        return web.Response(text="ok")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, reuse_address=True)


@dataclass(frozen=True)
class SystemActor:
    actor_type: ActorType = ActorType.SYSTEM
    actor_id: str | None = "bench"


@dataclass
class Phase:
    name: str
    sends: dict[str, int] = field(default_factory=dict)  # text → message id, for every 202
    inbound: list[str] = field(default_factory=list)  # texts of inbound messages the simulator route accepted
    refused: int = 0
    drained_s: float = 0.0


@dataclass
class Row:
    fault: str
    accepted: int
    sent: int
    sent_twice: int
    lost: int
    due: int
    delivered: int
    delivered_twice: int
    webhooks_lost: int
    refused: int
    drained_s: float

    @property
    def clean(self) -> bool:
        return not (self.lost or self.sent_twice or self.webhooks_lost)


class Gateway:
    """The stack and its processes; restarts reuse the same ports, folders and database."""

    def __init__(self, outage_s: float) -> None:
        self.outage_s = outage_s
        self.stack = Stack(mariadb=True, persistent_redis=True, environ=ENV)
        self.port, self.hook_port = free_port(), free_port()
        self.record = self.stack.base / "deliveries.jsonl"
        self.web = self.stack.wagate("web", "web", "--port", str(self.port))
        self.bridge = self.stack.wagate("bridge", "bridge", "--shard", "0")
        self.worker = self.stack.wagate("worker", "worker")
        self.receiver = self.stack.child("receiver", "-m", "bench.fault", "--receiver", str(self.hook_port),
                                         str(self.record))
        self.key = ""

    async def start(self) -> None:
        settings = self.stack.settings
        engine = create_engine(settings)
        db = create_sessionmaker(engine)
        await add_linked_sessions(db, settings, SESSIONS)
        await endpoints.create_webhook(db, settings, endpoints.Caller(SystemActor()), {
            "url": f"http://127.0.0.1:{self.hook_port}/hook", "events": ["message.sent", "message.received"]})
        await engine.dispose()
        self.key = (await bootstrap.create_api_key(settings, "fault", role="admin")).plaintext
        for child in (self.receiver, self.web, self.bridge, self.worker):
            child.start()
        await wait_http(f"http://127.0.0.1:{self.hook_port}/health", child=self.receiver)
        await wait_http(f"http://127.0.0.1:{self.port}/health", child=self.web)

    async def inject(self, fault: str) -> None:
        if fault in ("bridge-kill", "worker-kill"):
            child = self.bridge if fault == "bridge-kill" else self.worker
            child.kill()
            await asyncio.sleep(1)
            child.start()
        elif fault == "redis-restart":
            await asyncio.to_thread(self.stack.valkey.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(self.stack.valkey.start)
        elif fault == "mariadb-restart":
            assert self.stack.mariadb is not None
            await asyncio.to_thread(self.stack.mariadb.stop)
            await asyncio.sleep(3)
            await asyncio.to_thread(self.stack.mariadb.start)
        elif fault == "receiver-down":
            self.receiver.kill()
            await asyncio.sleep(self.outage_s)
            self.receiver.start()
            await wait_http(f"http://127.0.0.1:{self.hook_port}/health", child=self.receiver)
        else:
            raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")

    def close(self) -> None:
        self.stack.close()

    # --- what happened ----------------------------------------------------------------------------------

    def sent_texts(self) -> Counter[str]:
        log = sent_log_file(self.stack.settings.auth_sessions_dir)
        return Counter(str(line["text"]) for line in read_sent_log(log))

    def deliveries(self) -> Counter[tuple[str, str]]:
        found: Counter[tuple[str, str]] = Counter()
        with contextlib.suppress(FileNotFoundError):
            for raw in self.record.read_text().splitlines():
                item = json.loads(raw)
                data = item.get("data") or {}
                if item["event"] == "message.sent":
                    found["sent", str(data.get("id"))] += 1
                elif item["event"] == "message.received":
                    found["received", str(data.get("message"))] += 1
        return found

    def count(self, phase: Phase) -> Row:
        sent = self.sent_texts()
        delivered = self.deliveries()
        due = [("sent", str(mid)) for mid in phase.sends.values()] + [("received", t) for t in phase.inbound]
        return Row(
            fault=phase.name, accepted=len(phase.sends),
            sent=sum(1 for t in phase.sends if sent[t]), sent_twice=sum(1 for t in phase.sends if sent[t] > 1),
            lost=sum(1 for t in phase.sends if not sent[t]),
            due=len(due), delivered=sum(1 for k in due if delivered[k]),
            delivered_twice=sum(1 for k in due if delivered[k] > 1),
            webhooks_lost=sum(1 for k in due if not delivered[k]), refused=phase.refused, drained_s=phase.drained_s,
        )

    def settled(self, phase: Phase) -> bool:
        sent, delivered = self.sent_texts(), self.deliveries()
        return (all(sent[t] for t in phase.sends) and all(delivered["sent", str(m)] for m in phase.sends.values())
                and all(delivered["received", t] for t in phase.inbound))


async def load(gateway: Gateway, phase: Phase, stop: asyncio.Event, rate: float, serial: itertools.count[int]) -> None:
    """Sends at `rate`/s and inbound messages at half that, round robin over the sessions, until `stop`."""
    base = f"http://127.0.0.1:{gateway.port}"
    timeout = aiohttp.ClientTimeout(total=10)
    pending: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(headers={"x-api-key": gateway.key}, timeout=timeout) as http:
        async def send(n: int) -> None:
            text = f"{phase.name} out {n}"
            body = {"session": SESSIONS[n % len(SESSIONS)], "to": f"62815{n:07d}", "message": text}
            try:
                async with http.post(f"{base}/api/messages/send", json=body) as r:
                    answer = await r.json(content_type=None)
                    if r.status == 202:
                        phase.sends[text] = int(answer["data"]["id"])
                        return
            except (aiohttp.ClientError, TimeoutError, ValueError):
                pass
            phase.refused += 1

        async def inbound(n: int) -> None:
            text = f"{phase.name} in {n}"
            try:
                async with http.post(f"{base}/simulator/sessions/{SESSIONS[n % len(SESSIONS)]}/inbound",
                                     json={"from": f"62816{n:07d}", "text": text}) as r:
                    await r.read()
                    if r.status == 202:
                        phase.inbound.append(text)
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            phase.refused += 1

        tick = 0
        while not stop.is_set():
            n = next(serial)
            for job in ([send(n), inbound(n)] if tick % 2 == 0 else [send(n)]):
                task = asyncio.create_task(job)
                pending.add(task)
                task.add_done_callback(pending.discard)
            tick += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1 / rate)
        if pending:
            await asyncio.wait(pending, timeout=15)


async def run_fault(gateway: Gateway, fault: str, *, load_s: float, rate: float, drain_s: float,
                    serial: itertools.count[int]) -> Row:
    phase = Phase(fault)
    stop = asyncio.Event()
    loader = asyncio.create_task(load(gateway, phase, stop, rate, serial))
    await asyncio.sleep(load_s)
    await gateway.inject(fault)
    await asyncio.sleep(load_s)
    stop.set()
    await loader
    began = time.monotonic()
    while not gateway.settled(phase) and time.monotonic() - began < drain_s:  # noqa: ASYNC110 - files of others
        await asyncio.sleep(1)
    await asyncio.sleep(2)  # let late duplicates show up
    phase.drained_s = time.monotonic() - began
    return gateway.count(phase)


async def bridge_host_down(gateway: Gateway, fault: str, *, load_s: float, rate: float, drain_s: float,
                           serial: itertools.count[int]) -> Row:
    """The bridge-host-down row: takeover by a second bridge when the first's host dies, under load."""
    settings = gateway.stack.settings
    second = gateway.stack.wagate("bridge-2", "bridge", "--shard", "0").start()
    redis = Redis.from_url(gateway.stack.valkey.url)
    engine = create_engine(settings)
    db = create_sessionmaker(engine)

    async def drivers() -> list[int | None]:
        owners = await redis.mget([lease_key(sid) for sid in SESSIONS])
        return [int(o.decode().split(":")[2]) if o else None for o in owners]

    async def settle(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 120) -> float:
        began = time.monotonic()
        while not await check():
            if time.monotonic() - began > within_s:
                raise RuntimeError(f"{fault}: no {what} within {within_s:.0f} s")
            await asyncio.sleep(0.2)
        return time.monotonic() - began

    try:
        async def shared() -> bool:
            return second.pid in await drivers() and gateway.bridge.pid in await drivers()

        await settle(shared, "share for the second bridge")
        phase = Phase(fault)
        stop = asyncio.Event()
        loader = asyncio.create_task(load(gateway, phase, stop, rate, serial))
        await asyncio.sleep(load_s)
        moved = [sid for sid, pid in zip(SESSIONS, await drivers(), strict=True) if pid == gateway.bridge.pid]
        since = utcnow()
        os.kill(gateway.bridge.pid, signal.SIGSTOP)

        async def taken_over() -> bool:
            if set(await drivers()) != {second.pid}:
                return False
            async with db() as session:
                rows = (await session.execute(select(WaSession.id, WaSession.status, WaSession.connected_at)
                                              .where(WaSession.id.in_(moved)))).all()
            return all(status == SessionStatus.WORKING and at is not None and at >= since for _, status, at in rows)

        took = await settle(taken_over, "takeover")
        await asyncio.sleep(load_s)
        stop.set()
        await loader
        gateway.bridge.kill()  # the host comes back: its supervisor starts the bridge again
        gateway.bridge.start()
        await settle(shared, "share for the restarted bridge")
        second.stop()  # drained: every session back on the first
        began = time.monotonic()
        while not gateway.settled(phase) and time.monotonic() - began < drain_s:  # noqa: ASYNC110 - files of others
            await asyncio.sleep(1)
        await asyncio.sleep(2)
        phase.drained_s = time.monotonic() - began
        row = gateway.count(phase)
        row.fault = f"{fault} (all {len(SESSIONS)} sessions WORKING on the other bridge in {took:.1f} s)"
        return row
    finally:
        second.stop()
        await redis.aclose()
        await engine.dispose()


HEADER = ("| fault | sends accepted | sent | sent twice | lost | webhooks due | delivered | delivered twice | lost "
          "| refused during outage | drained in |")


def table(rows: list[Row]) -> str:
    lines = [HEADER, "|" + "---|" * 11]
    for r in rows:
        lines.append(f"| {r.fault} | {r.accepted} | {r.sent} | {r.sent_twice} | {r.lost} | {r.due} | {r.delivered} "
                     f"| {r.delivered_twice} | {r.webhooks_lost} | {r.refused} | {r.drained_s:.0f} s |")
    return "\n".join(lines)


async def run_faults(faults: list[str], *, outage_s: float = 60, load_s: float = 8, rate: float = 8,
                     drain_s: float = 240, gateway: Gateway | None = None) -> list[Row]:
    """Each fault in turn on one gateway; returns a row per fault (the bench prints them, the test asserts)."""
    own = gateway is None
    gateway = gateway or Gateway(outage_s)
    serial = itertools.count()
    try:
        await gateway.start()
        rows: list[Row] = []
        for fault in faults:
            run = bridge_host_down if fault == "bridge-host-down" else run_fault
            row = await run(gateway, fault, load_s=load_s, rate=rate, drain_s=drain_s, serial=serial)
            print(f"{fault}: {row}", flush=True)
            rows.append(row)
        return rows
    finally:
        if own:
            gateway.close()



# --- a deploy: every program restarted under supervisord, requests through nginx ---------------------------------

DEPLOYS = {
    "rolling-restart": ("wagate", "rolling-restart"),  # the documented deploy: one process at a time
    "restart-all": ("supervisorctl", "restart", "all"),  # every program at once, for comparison
    "two-shards": ("wagate", "rolling-restart"),  # BRIDGE_SHARDS 1 → 2 as the README says, then the same deploy
}


def two_shards(home: Path) -> None:
    """BRIDGE_SHARDS=2 in .env and the bridge's numprocs=2 in supervisord.conf, together (README, Deployment)."""
    env = home / ".env"
    env.write_text(env.read_text() + "BRIDGE_SHARDS=2\n")
    conf = home / "supervisord.conf"
    text = conf.read_text()
    head, _, tail = text.partition("[program:wagate-bridge]")
    conf.write_text(head + "[program:wagate-bridge]" + tail.replace("numprocs=1", "numprocs=2", 1))


@dataclass
class DeployRow:
    deploy: str
    accepted: int
    refused: int
    sent: int
    sent_twice: int
    lost: int
    took_s: float
    refusals: Counter[str] = field(default_factory=Counter)  # status (or error) → how many

    @property
    def clean(self) -> bool:
        return not (self.refused or self.lost or self.sent_twice)


async def _send_stream(url: str, key: str, sessions: list[str], sends: dict[str, int], refusals: Counter[str],
                       stop: asyncio.Event, rate: float) -> None:
    """Sends at `rate`/s through `url` until `stop`; accepted ones into `sends`, the others counted by answer."""
    pending: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(headers={"x-api-key": key}, timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def send(n: int) -> None:
            text = f"deploy out {n}"
            body = {"session": sessions[n % len(sessions)], "to": f"62817{n:07d}", "message": text}
            try:
                async with http.post(f"{url}/api/messages/send", json=body) as r:
                    raw = await r.read()
                    if r.status == 202:
                        sends[text] = int(json.loads(raw)["data"]["id"])
                        return
                    try:
                        reason = str(json.loads(raw).get("message"))[:60]
                    except ValueError:
                        reason = "not the gateway's answer"  # nginx's own page: no web process took it
                    refusals[f"{r.status} {reason}"] += 1
            except (aiohttp.ClientError, TimeoutError) as error:
                refusals[type(error).__name__] += 1

        for n in itertools.count():
            if stop.is_set():
                break
            task = asyncio.create_task(send(n))
            pending.add(task)
            task.add_done_callback(pending.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1 / rate)
        if pending:
            await asyncio.wait(pending, timeout=30)


async def run_deploy(deploy: str = "rolling-restart", *, rate: float = 8, lead_s: float = 5,
                     drain_s: float = 120) -> DeployRow:
    """A steady stream of sends through nginx to supervisord's web ×2, bridge and worker (the shipped files) while
    `deploy` restarts every program; how many sends were refused, and whether each accepted one went out once."""
    from bench.supervised import SupervisedHost
    from wagate.config import load_settings
    from wagate.db.enums import SessionStatus
    from wagate.db.models_whatsapp import WaSession

    stack = Stack(mariadb=True, persistent_redis=True)
    home = stack.base / "home"
    env = {
        "WAGATE_ENV": "test", "DATABASE_URL": stack.env["DATABASE_URL"], "REDIS_URL": stack.env["REDIS_URL"],
        "WA_TRANSPORT": "simulator", "LOG_FORMAT": "json", "JWT_SECRET": stack.env["JWT_SECRET"],
        "ENCRYPTION_KEY": stack.env["ENCRYPTION_KEY"], "TRUSTED_PROXIES": "127.0.0.1",
        **{name: str(home / folder) for name, folder in (("DATA_DIR", "data"), ("LOG_DIR", "logs"),
                                                         ("AUTH_SESSIONS_DIR", "auth_sessions"),
                                                         ("UPLOAD_DIR", "uploads"))},
        **{k: v for k, v in stack.env.items() if k.startswith("RATE_LIMIT_")}, **ENV,
    }
    host = SupervisedHost(home, env)
    try:
        settings = load_settings(env, env_file=None)
        engine = create_engine(settings)
        db = create_sessionmaker(engine)
        await add_linked_sessions(db, settings, SESSIONS)
        key = (await bootstrap.create_api_key(settings, "deploy", role="admin")).plaintext
        host.start()
        for port in host.web_ports:  # both web processes serve before the stream starts
            await wait_http(f"http://127.0.0.1:{port}/health", within_s=90)
        await wait_http(f"{host.url}/health", within_s=30)
        began = time.monotonic()
        while True:  # the bridge has linked every session again
            async with db() as session:
                statuses = set((await session.execute(select(WaSession.status))).scalars())
            if statuses == {SessionStatus.WORKING} or time.monotonic() - began > 90:
                break
            await asyncio.sleep(0.5)
        await engine.dispose()

        sends: dict[str, int] = {}
        refusals: Counter[str] = Counter()
        stop = asyncio.Event()
        stream = asyncio.create_task(_send_stream(host.url, key, SESSIONS, sends, refusals, stop, rate))
        await asyncio.sleep(lead_s)
        began = time.monotonic()
        command = DEPLOYS[deploy]
        if deploy == "two-shards":
            two_shards(home)
        done = await asyncio.to_thread(host.wagate if command[0] == "wagate" else host.supervisorctl, *command[1:])
        took = time.monotonic() - began
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stdout}{done.stderr}")
        print(done.stdout, end="", flush=True)
        await asyncio.sleep(lead_s)
        stop.set()
        await stream

        log = sent_log_file(settings.auth_sessions_dir)
        began = time.monotonic()
        while True:
            sent = Counter(str(line["text"]) for line in read_sent_log(log))
            if all(sent[t] for t in sends) or time.monotonic() - began > drain_s:
                break
            await asyncio.sleep(1)
        await asyncio.sleep(2)  # late duplicates
        sent = Counter(str(line["text"]) for line in read_sent_log(log))
        return DeployRow(deploy, len(sends), sum(refusals.values()), sum(1 for t in sends if sent[t]),
                         sum(1 for t in sends if sent[t] > 1), sum(1 for t in sends if not sent[t]), took, refusals)
    finally:
        host.close()
        stack.close()


DEPLOY_HEADER = "| deploy (every program restarted) | sends accepted | refused | sent | sent twice | lost | took |"


def deploy_table(rows: list[DeployRow]) -> str:
    lines = [DEPLOY_HEADER, "|" + "---|" * 7]
    for r in rows:
        refused = f"{r.refused} ({', '.join(f'{k}: {v}' for k, v in r.refusals.items())})" if r.refused else "0"
        lines.append(f"| {r.deploy} | {r.accepted} | {refused} | {r.sent} | {r.sent_twice} | {r.lost} "
                     f"| {r.took_s:.0f} s |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--outage", type=float, default=60, help="seconds the webhook receiver is down")
    parser.add_argument("--load", type=float, default=8, help="seconds of load before and after each fault")
    parser.add_argument("--rate", type=float, default=8, help="sends per second (inbound: half as many)")
    parser.add_argument("--deploys", default="", help=f"instead of the faults: {', '.join(DEPLOYS)} through nginx")
    parser.add_argument("--receiver", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        receiver(int(args.receiver[0]), Path(args.receiver[1]))
        return 0
    if args.deploys:
        deploys = [asyncio.run(run_deploy(name, rate=args.rate)) for name in args.deploys.split(",")]
        print()
        print(deploy_table(deploys))
        return 0 if all(r.clean for r in deploys) else 1
    rows = asyncio.run(run_faults(args.faults.split(","), outage_s=args.outage, load_s=args.load, rate=args.rate))
    print()
    print(table(rows))
    return 0 if all(r.clean for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
