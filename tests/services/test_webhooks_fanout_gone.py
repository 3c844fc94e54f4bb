"""A fan-out reader starting after a SIGKILL takes over the unacknowledged batch of the killed one at once.

Readers are named like the bridge's lease owners (host, PID namespace, PID). Against the suite's Valkey; the
killed reader is a real process that has exited, the live one a real process still running.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from arq.connections import ArqRedis

from tests.services.test_webhooks_fanout import publish
from wagate.services import events
from wagate.services.webhooks import fanout


def reader_of(pid: int) -> str:
    """The reader name a process with this PID on this host would have."""
    host, namespace, _, _ = fanout.consumer_name().split(":")
    return f"{host}:{namespace}:{pid}:test"


async def take(redis: ArqRedis, reader: str, count: int) -> list[Any]:
    return await fanout.read_new(redis, reader, count=count, block_ms=None)


@pytest.fixture
def dead() -> subprocess.Popen[bytes]:
    """A process that ran and exited: its PID runs no more."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process


@pytest.fixture
def alive() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


async def test_a_gone_readers_batch_is_claimed_at_once_and_a_live_readers_is_left(
    arq_redis: ArqRedis, dead: subprocess.Popen[bytes], alive: subprocess.Popen[bytes],
) -> None:
    for _ in range(6):
        await publish(arq_redis, "message.received", "s1", None)
    await fanout.ensure_group(arq_redis)
    killed_batch = await take(arq_redis, reader_of(dead.pid), 3)
    live_batch = await take(arq_redis, reader_of(alive.pid), 3)
    assert len(killed_batch) == len(live_batch) == 3

    me = fanout.consumer_name()
    claimed = await fanout.claim_from_gone(arq_redis, me)

    assert [e[0] for e in claimed] == [e[0] for e in killed_batch]
    readers = {(r["name"].decode() if isinstance(r["name"], bytes) else r["name"]): r["pending"]
               for r in await arq_redis.xinfo_consumers(events.EVENT_STREAM, fanout.GROUP)}
    assert reader_of(dead.pid) not in readers  # struck off the group
    assert readers[reader_of(alive.pid)] == 3 and readers[me] == 3
    assert await fanout.claim_from_gone(arq_redis, me) == []  # nothing left to take
