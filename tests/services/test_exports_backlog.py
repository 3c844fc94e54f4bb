"""Event export against real Valkey and NATS: scopes and filters, the stream kept for a group that lags behind,
the backlog figures and a broker's state."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import nats
from arq.connections import ArqRedis
from redis.asyncio import Redis

from tests.broker_servers import NatsProcess
from tests.services.webhook_receiver import ADMIN, webhook_settings
from wagate.db.enums import BrokerKind
from wagate.services import events
from wagate.services.exports import backlog, brokers, endpoints, runner, stream
from wagate.services.exports.stream import ExportTarget

LAGGING = backlog.group_name(1)


def target(url: str, prefix: str, **scope: Any) -> ExportTarget:
    values: dict[str, Any] = {"events": "*", "tenant_id": None, "session_id": None, **scope}
    return ExportTarget(1, BrokerKind.NATS, url, f"S{prefix}", prefix, values["events"], values["tenant_id"],
                        values["session_id"], "v1")


async def test_scopes_and_filters_pick_the_events_an_export_publishes(arq_redis: ArqRedis,
                                                                      nats_server: NatsProcess) -> None:
    nats_server.ensure_running()
    nc = await nats.connect(nats_server.url)
    published: list[tuple[str, str]] = []
    try:
        for scope, wanted in (({}, {"a", "b", "c", "d"}), ({"tenant_id": 7}, {"a", "b"}),
                              ({"session_id": "s2"}, {"c"}), ({"events": ["qr.generated"], "tenant_id": 7}, {"b"})):
            prefix = f"p{uuid.uuid4().hex[:8]}"
            inbox = await nc.subscribe(f"{prefix}.>")
            export = target(nats_server.url, prefix, **scope)
            await arq_redis.delete(events.EVENT_STREAM)
            await stream.ensure_group(arq_redis, export.id, start="0")
            sent = {"a": events.envelope("message.received", "s1", {}), "b": events.envelope("qr.generated", "s1", {}),
                    "c": events.envelope("message.sent", "s2", {}), "d": events.envelope("connection.open", None, {})}
            await events.publish(arq_redis, 7, sent["a"], sent["b"])
            await events.publish(arq_redis, None, sent["c"], sent["d"])
            await arq_redis.xadd(events.EVENT_STREAM, {"event": "not json"})
            publisher = brokers.publisher(export.kind, export.url, export.target, export.prefix)
            await publisher.open()
            try:
                entries = await stream.next_entries(arq_redis, LAGGING, "test", block_ms=100)
                assert await stream.process(arq_redis, export, publisher, entries) == len(wanted)
            finally:
                await publisher.close()
            got = set()
            for _ in wanted:
                message = await inbox.next_msg(timeout=5)
                event_id = (message.headers or {})["Nats-Msg-Id"]
                got.add(next(k for k, v in sent.items() if v["id"] == event_id))
                published.append((message.subject, event_id))
            assert got == wanted, scope
            assert await arq_redis.xpending(events.EVENT_STREAM, LAGGING) == {  # all acknowledged, the bad one too
                "pending": 0, "min": None, "max": None, "consumers": []}
            await inbox.unsubscribe()
            await nc.jetstream().delete_stream(export.target)
    finally:
        await nc.close()
    assert any(subject.endswith(".7.s1.message.received") for subject, _ in published)
    assert any(subject.endswith(".global._.connection.open") for subject, _ in published)


async def test_the_stream_keeps_what_a_lagging_group_has_not_acknowledged(redis_url: str) -> None:
    async with Redis.from_url(redis_url) as redis:  # no socket timeout: some reads here are 120,000 entries
        await _lagging_group_keeps_its_entries(redis)


async def _lagging_group_keeps_its_entries(arq_redis: Redis) -> None:
    # A group that read nothing (an export whose broker is down) and one that keeps up (webhook fan-out).
    await arq_redis.xgroup_create(events.EVENT_STREAM, LAGGING, id="0", mkstream=True)
    total = events.EVENT_STREAM_MAXLEN + 20_000
    body = events.envelope("message.sent", "s1", {"text": "x" * 50})
    for start in range(0, total, 5000):  # the gateway's own append, with its own bound
        await events.publish(arq_redis, 7, *[{**body, "id": f"evt_{i}"} for i in range(start, start + 5000)],
                             live=False)
    await arq_redis.xgroup_create(events.EVENT_STREAM, "keeping-up", id="$")  # read and acknowledged it all
    await backlog.trim(arq_redis)
    assert await arq_redis.xlen(events.EVENT_STREAM) == total  # nothing the lagging group needs is gone

    first = await arq_redis.xrange(events.EVENT_STREAM, count=1)
    assert first[0][1][b"event"].decode().find('"evt_0"') > 0
    figures = {f.export_id: f for f in await backlog.figures(arq_redis)}
    assert figures[1].waiting == total and figures[1].lag_s >= 0

    # Once it caught up, the stream goes back to its replay buffer.
    read = await arq_redis.xreadgroup(LAGGING, "c", {events.EVENT_STREAM: ">"}, count=total)
    await arq_redis.xack(events.EVENT_STREAM, LAGGING, *[entry_id for entry_id, _ in read[0][1]])
    await backlog.trim(arq_redis)
    kept = await arq_redis.xlen(events.EVENT_STREAM)
    assert events.EVENT_STREAM_MAXLEN <= kept < total


async def test_a_brokers_state_keeps_the_start_of_its_outage(arq_redis: ArqRedis) -> None:
    await backlog.mark(arq_redis, 3, up=False, error="refused")
    since = (await backlog.statuses(arq_redis))[3]["since"]
    await asyncio.sleep(0.05)
    await backlog.mark(arq_redis, 3, up=False, error="refused")
    assert (await backlog.statuses(arq_redis))[3] == {"up": False, "since": since, "error": "refused"}
    await backlog.mark(arq_redis, 3, up=True)
    assert (await backlog.statuses(arq_redis))[3]["up"] is True
    assert await backlog.forget(arq_redis, keep=[], newest_id=3) == [3]
    assert await backlog.statuses(arq_redis) == {}


async def test_a_second_worker_takes_an_export_over_in_order(db: Any, arq_redis: ArqRedis, tmp_path: Path,
                                                             database_url: str, redis_url: str,
                                                             nats_server: NatsProcess) -> None:
    """One worker's export loop dies mid-run (cancelled, its lease left to lapse); another takes the export over,
    its group's pending entries first: every event reaches the broker, in order."""
    nats_server.ensure_running()
    settings = webhook_settings(tmp_path, database_url, redis_url, JOB_LEASE_S="5")
    mark = uuid.uuid4().hex[:8]
    export = await endpoints.create_export(db, arq_redis, settings, ADMIN, {
        "kind": BrokerKind.NATS, "url": nats_server.url, "target": f"T{mark}", "prefix": f"p{mark}", "events": "*"})
    sent = [events.envelope("message.received", "s1", {"seq": i}) for i in range(3000)]
    for start in range(0, len(sent), 500):
        await events.publish(arq_redis, None, *sent[start:start + 500], live=False)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(runner.run_exports(db, arq_redis, settings, stop=first_stop, owner="first",
                                                   round_s=0.2))
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    second: asyncio.Task[None] | None = None
    try:
        started = asyncio.get_running_loop().time()
        while not (exported := await _stored(js, f"T{mark}")):
            assert asyncio.get_running_loop().time() - started < 30, "the first worker exported nothing"
            await asyncio.sleep(0.01)
        first.cancel()  # a worker killed as soon as the first batch is out: its lease lapses, its batch is pending
        with contextlib.suppress(asyncio.CancelledError):
            await first
        assert exported < len(sent)
        second = asyncio.create_task(runner.run_exports(db, arq_redis, settings, stop=second_stop, owner="second",
                                                        round_s=0.2))
        deadline = asyncio.get_running_loop().time() + 60
        while (await js.stream_info(f"T{mark}")).state.messages < len(sent):
            assert asyncio.get_running_loop().time() < deadline, "not every event reached the broker"
            await asyncio.sleep(0.2)
        info = await js.stream_info(f"T{mark}")
        seqs = [json.loads((await js.get_msg(f"T{mark}", n)).data or b"")["data"]["seq"]
                for n in range(info.state.first_seq, info.state.last_seq + 1)]
        assert seqs == list(range(len(sent)))  # once each (JetStream dropped any copy), in order
        await js.delete_stream(f"T{mark}")
    finally:
        await nc.close()
        second_stop.set()
        if second is not None:
            await second
    assert export.id


async def _stored(js: Any, stream_name: str) -> int:
    try:
        return int((await js.stream_info(stream_name)).state.messages)
    except nats.js.errors.NotFoundError:
        return 0
