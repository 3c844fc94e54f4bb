"""Pipeline: messages/s from `queued` to `sent` through a real bridge process, against draining no-op arq jobs.

100 linked sessions on the simulator, pacing off (SEND_GAP_MS=0, BULK_GAP_MS=0, no jitter, no typing). Each
round queues N messages (N/100 per session) through `sending.queue_messages`, the service behind
POST /api/messages/send-bulk (rows in one transaction per session, their send jobs in one pipeline), and
times from the first queueing call until the database shows all N sent. The baseline, in the same run and
alternating with it: N no-op jobs enqueued in pipelines and drained by a plain arq worker process with the
bridge's poll delay and max_jobs, timed from the first enqueue until the last job ran. Each round also waits
until every message is read and prints the bridge's CPU time per message (sends and receipts): on a loaded
machine the throughputs swing with the load, this figure much less.

    .venv/bin/python -m bench.pipeline [--messages 2000] [--sessions 100] [--rounds 3] [--mariadb]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from arq.connections import ArqRedis
from sqlalchemy import func, select

from bench.common import NO_PACING, Stack, add_linked_sessions, median, py_spy
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.db.enums import Direction, MessageStatus, SessionStatus
from wagate.db.models_whatsapp import Message, WaSession
from wagate.services.messaging import sending
from wagate.web.app import redis_client

NOOP_QUEUE = "bench:noop"
NOOP_COUNTER = "bench:noop:done"
TARGET_RATIO = 2.0
DONE = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


def noop_worker(redis_url: str) -> None:
    """The baseline consumer: arq with the bridge's poll delay and concurrency, jobs that only count themselves."""
    from arq import Worker
    from arq.worker import func as arq_func

    from workers.common import POLL_DELAY_S, redis_settings

    async def noop(ctx: dict[str, object]) -> None:
        await ctx["redis"].incr(NOOP_COUNTER)  # type: ignore[attr-defined]

    Worker(functions=[arq_func(noop, name="noop")], queue_name=NOOP_QUEUE, redis_settings=redis_settings(redis_url),
           poll_delay=POLL_DELAY_S, max_jobs=200, keep_result=60, handle_signals=True).run()


async def drain_noop(redis: ArqRedis, n: int) -> float:
    """Enqueue n no-op jobs (pipelines of 500) and wait until the worker ran them all; jobs/s."""
    from arq.constants import job_key_prefix
    from arq.jobs import serialize_job
    from arq.utils import timestamp_ms

    await redis.set(NOOP_COUNTER, 0)
    started = time.perf_counter()
    for first in range(0, n, 500):
        now_ms = timestamp_ms()
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(first, min(n, first + 500)):
                job_id = f"noop:{started}:{i}"
                pipe.set(job_key_prefix + job_id, serialize_job("noop", (), {}, None, now_ms), px=86_400_000)
                pipe.zadd(NOOP_QUEUE, {job_id: now_ms})
            await pipe.execute()
    while int(await redis.get(NOOP_COUNTER) or 0) < n:  # noqa: ASYNC110 - the counter lives in another process
        await asyncio.sleep(0.01)
    return n / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): per message, a figure the machine's load barely moves."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sent_count(db: object, since_id: int, statuses: tuple[MessageStatus, ...] = DONE) -> int:
    async with db() as session:  # type: ignore[operator]
        return int(await session.scalar(select(func.count()).select_from(Message).where(
            Message.id > since_id, Message.direction == Direction.OUTBOUND, Message.status.in_(statuses))) or 0)


async def pipeline_round(db: object, redis: ArqRedis, stack: Stack, sessions: list[str], per_session: int,
                         bridge_pid: int) -> tuple[float, float]:
    """Queue per_session messages on every session and wait until all are sent and read; messages/s (to sent) and
    the bridge's CPU milliseconds per message (to read: receipts included)."""
    settings = stack.settings
    async with db() as session:  # type: ignore[operator]
        since = int(await session.scalar(select(func.max(Message.id))) or 0)
    n = len(sessions) * per_session
    gate = asyncio.Semaphore(8)

    async def queue(sid: str, k: int) -> None:
        recipients = [f"62813{k:03d}{i:05d}" for i in range(per_session)]
        async with gate:
            await sending.queue_messages(db, redis, settings, sid, recipients, f"Pesan uji {k}")  # type: ignore[arg-type]

    cpu_before = cpu_seconds(bridge_pid)
    started = time.perf_counter()
    await asyncio.gather(*(queue(sid, k) for k, sid in enumerate(sessions)))
    queued_in = time.perf_counter() - started
    deadline = time.monotonic() + 600
    while (done := await sent_count(db, since)) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{done} of {n} sent after 600 s")
        await asyncio.sleep(0.02)
    took = time.perf_counter() - started
    while (await sent_count(db, since, (MessageStatus.READ,))) < n:  # the receipts' work counts toward the CPU
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all of {n} read after 600 s")
        await asyncio.sleep(0.05)
    cpu_ms = (cpu_seconds(bridge_pid) - cpu_before) * 1000 / n
    print(f"  pipeline  {n / took:7.0f} msg/s  ({n} messages in {took:.2f} s; queueing took {queued_in:.2f} s; "
          f"bridge CPU {cpu_ms:.2f} ms/message to read)", flush=True)
    return n / took, cpu_ms


async def run(stack: Stack, args: argparse.Namespace) -> int:
    settings = stack.settings
    engine = create_engine(settings)
    db = create_sessionmaker(engine)
    redis = redis_client(settings.redis_url or "")
    sessions = [f"pipe-{n:03d}" for n in range(args.sessions)]
    await add_linked_sessions(db, settings, sessions)
    bridge = stack.wagate("bridge", "bridge", "--shard", "0").start()
    worker = stack.child("noop-worker", "-m", "bench.pipeline", "--noop-worker", stack.valkey.url).start()
    try:
        deadline = time.monotonic() + 120
        while True:
            async with db() as session:
                working = await session.scalar(select(func.count()).select_from(WaSession).where(
                    WaSession.status == SessionStatus.WORKING))
            if working == len(sessions):
                break
            if time.monotonic() > deadline or not bridge.alive():
                raise RuntimeError(f"{working} of {len(sessions)} sessions connected\n{bridge.tail()}")
            await asyncio.sleep(0.2)
        per_session = max(1, args.messages // len(sessions))
        n = per_session * len(sessions)
        await drain_noop(redis, 500)  # warm up
        print(f"{n} messages over {len(sessions)} sessions, pacing off, "
              f"{'MariaDB' if args.mariadb else 'SQLite'}", flush=True)
        rates: dict[str, list[float]] = {"baseline": [], "pipeline": [], "cpu": []}
        for k in range(args.rounds):
            print(f"round {k + 1}", flush=True)
            rate = await drain_noop(redis, n)
            print(f"  baseline  {rate:7.0f} jobs/s (no-op arq jobs)", flush=True)
            rates["baseline"].append(rate)
            # py-spy's raw stacks of the bridge during the first round
            spy = py_spy(bridge.pid, 15, args.profile) if args.profile and k == 0 else None
            rate, cpu_ms = await pipeline_round(db, redis, stack, sessions, per_session, bridge.pid)
            rates["pipeline"].append(rate)
            rates["cpu"].append(cpu_ms)
            if spy is not None:
                spy.wait()
        base, pipe = median(rates["baseline"]), median(rates["pipeline"])
        print(f"\nmedians of {args.rounds}")
        print(f"baseline, {n} no-op arq jobs drained: {base:7.0f} jobs/s")
        print(f"pipeline, queued -> sent:            {pipe:7.0f} messages/s")
        print(f"bridge CPU per message, to read:     {median(rates['cpu']):7.2f} ms")
        print(f"ratio pipeline/baseline: {pipe / base:.2f} (target >= {TARGET_RATIO})")
        return 0 if pipe / base >= TARGET_RATIO else 1
    finally:
        bridge.stop()
        worker.stop()
        await redis.aclose()
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mariadb", action="store_true", help="a private MariaDB instead of SQLite")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the bridge in round 1 into FILE (raw stacks)")
    parser.add_argument("--noop-worker", metavar="REDIS_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noop_worker:
        noop_worker(args.noop_worker)
        return 0
    stack = Stack(mariadb=args.mariadb, environ=NO_PACING)
    try:
        return asyncio.run(run(stack, args))
    finally:
        stack.close()


if __name__ == "__main__":
    sys.exit(main())
