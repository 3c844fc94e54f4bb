"""A reduced bench.fault run: each fault under a light steady load loses no send and no webhook.

Real web, bridge and worker processes on a private MariaDB and a persistent Valkey (bench.fault starts its
own, apart from the suite's servers); the webhook receiver is down for 5 s instead of a minute. The sends a
SIGKILLed bridge had in flight (taken by WhatsApp, not yet recorded) go out again after its restart under the
message ids stored with their `sending` mark, and the simulator, like WhatsApp, keeps one message per id: no
fault sends anything twice (README "Fault tolerance").
"""

from __future__ import annotations

import pytest

from bench.fault import FAULTS, run_faults, table

pytestmark = pytest.mark.slow


async def test_no_send_or_webhook_is_lost_and_none_sent_twice() -> None:
    # A fault drains in seconds. The slowest way back is a webhook delivery whose job a Redis restart lost: the
    # worker's sweep re-enqueues it at its next run (once a minute, for deliveries due 15 s or more), so up to
    # 75 s; 100 s leaves room for a loaded machine.
    rows = await run_faults(list(FAULTS), outage_s=5, load_s=3, rate=5, drain_s=100)
    print(table(rows))
    for row in rows:
        assert row.accepted > 0 and row.due > row.accepted, row
        assert row.lost == 0 and row.webhooks_lost == 0, table(rows)
        assert row.sent_twice == 0, table(rows)
