"""The memory ceiling on a real bridge process: past BRIDGE_MAX_RSS_MB it drains and exits; restarted, it loses
nothing."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.bridge.conftest import until
from tests.bridge.test_crash import DONE, BridgeProcess, ready, start_linked, statuses
from wagate.config import Settings
from wagate.db.enums import MessageStatus
from wagate.services.messaging.sending import SendRequest, queue_message
from wagate.transport.simulator.wire import read_sent_log, sent_log_file

pytestmark = pytest.mark.slow

CEILING_MB = 1  # below any Python process: the first check trips it


async def test_a_bridge_past_its_memory_ceiling_drains_exits_and_its_restart_loses_nothing(
    db: async_sessionmaker[AsyncSession], arq_redis: ArqRedis, settings: Settings, tmp_path: Path,
) -> None:
    bridge = BridgeProcess(settings, tmp_path / "bridge.log")
    bridge.env["BRIDGE_MAX_RSS_MB"] = str(CEILING_MB)
    texts = [f"memori {n}" for n in range(6)]
    try:
        await start_linked(bridge, db, arq_redis, settings, "mem", "6281700000005")
        for text in texts[:3]:
            await queue_message(db, arq_redis, settings, SendRequest(session_id="mem", to="6285799990001", text=text))
        assert bridge.process is not None
        started = time.monotonic()
        code = await asyncio.to_thread(bridge.process.wait, 60)  # on the watchdog's timer: it exits by itself
        exited_after = time.monotonic() - started
        assert code == 0  # a drained exit, not a crash
        log = (Path(settings.log_dir) / "combined.log").read_text()
        assert "bridge past its memory ceiling" in log
        assert '"handed_over": 1, "event": "bridge stopped"' in log  # its lease released for the next bridge

        for text in texts[3:]:  # queued while no bridge runs
            await queue_message(db, arq_redis, settings, SendRequest(session_id="mem", to="6285799990001", text=text))
        bridge.start()  # what its supervisor does
        await ready(arq_redis)

        async def all_sent() -> bool:
            done = await statuses(db, "mem")
            return sum(done[s] for s in DONE) == len(texts)

        await until(all_sent, timeout=60, what="every message after the restart")
        counts = Counter(str(line["text"]) for line in read_sent_log(sent_log_file(settings.auth_sessions_dir)))
        assert counts == Counter(texts)  # each once
        assert (await statuses(db, "mem"))[MessageStatus.FAILED] == 0
        print(f"\nexited {exited_after:.1f} s after the messages were queued; all {len(texts)} sent once")
    finally:
        bridge.stop()
