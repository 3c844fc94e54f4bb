"""The SSRF guard: each refused kind of destination at create/update and at delivery, when DNS answers change."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from arq.connections import ArqRedis

from tests.services.webhook_receiver import ADMIN, DummyReceiver, wait_deliveries, webhook_settings
from wagate.config import Settings
from wagate.db.enums import DeliveryStatus
from wagate.errors import Invalid
from wagate.services import events
from wagate.services.webhooks import endpoints, fanout
from wagate.services.webhooks.delivery import Delivery, HostSlots, Outcome
from wagate.services.webhooks.ssrf import GuardedResolver

REFUSED = {
    "http://169.254.10.1/hook": "link-local",
    "http://[fe80::1]/hook": "link-local",
    "http://169.254.169.254/latest/meta-data": "cloud metadata",
    "http://[fd00:ec2::254]/": "cloud metadata",
    "http://metadata.google.internal/computeMetadata/v1/": "cloud metadata",
    "http://224.0.0.1/hook": "multicast",
    "http://[ff02::1]/hook": "multicast",
    "http://0.0.0.0/hook": "unspecified",
    "http://[::]/hook": "unspecified",
    "http://127.0.0.1:8080/hook": "loopback",
    "http://[::ffff:127.0.0.1]/hook": "loopback",
    "http://10.1.2.3/hook": "private",
    "http://192.168.1.10/hook": "private",
    "http://[fd12::1]/hook": "private",
    "ftp://example.com/hook": "only http and https",
    "http:///hook": "no host",
}


class TableResolver(AbstractResolver):
    """A DNS whose answers the test changes: name → address (the guard under test wraps it, as it wraps the OS)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        address = self.table[host]
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0,
                              flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


@pytest.fixture
def strict(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return webhook_settings(tmp_path, database_url, redis_url, WEBHOOK_ALLOW_PRIVATE="false")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("url", "reason"), REFUSED.items())
async def test_each_refused_kind_at_create(db: Any, strict: Settings, url: str, reason: str) -> None:
    with pytest.raises(Invalid) as refused:
        await endpoints.create_webhook(db, strict, ADMIN, {"url": url, "events": "*"})
    assert reason in refused.value.details["url"][0]
    if reason in ("loopback", "private"):  # the one refusal a setting lifts says which
        assert "WEBHOOK_ALLOW_PRIVATE=true" in refused.value.details["url"][0]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_private_only_with_the_flag_and_never_link_local_or_metadata(db: Any, strict: Settings) -> None:
    allowing = strict.replace(webhook_allow_private=True)
    for url in ("http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://[fd12::1]/hook"):
        await endpoints.create_webhook(db, allowing, ADMIN, {"url": url, "events": "*"})
    for url in ("http://169.254.169.254/", "http://[fe80::1]/", "http://metadata.google.internal/"):
        with pytest.raises(Invalid):
            await endpoints.create_webhook(db, allowing, ADMIN, {"url": url, "events": "*"})


async def test_names_are_checked_by_what_they_resolve_to_at_create_and_update(db: Any, strict: Settings) -> None:
    dns = TableResolver({"hooks.example.com": "93.184.216.34", "internal.example.com": "10.0.0.5"})
    webhook, _ = await endpoints.create_webhook(db, strict, ADMIN, {"url": "https://hooks.example.com/in",
                                                                   "events": "*"}, resolver=dns)
    with pytest.raises(Invalid):
        await endpoints.create_webhook(db, strict, ADMIN, {"url": "https://internal.example.com/in", "events": "*"},
                                      resolver=dns)
    with pytest.raises(Invalid):
        await endpoints.update_webhook(db, strict, ADMIN, webhook.id, {"url": "https://internal.example.com/in"},
                                      resolver=dns)


async def test_a_name_that_rebinds_after_create_is_refused_at_delivery_and_the_connection_is_pinned(
        db: Any, arq_redis: ArqRedis, tmp_path: Path, database_url: str, redis_url: str) -> None:
    receiver = DummyReceiver()
    await receiver.start()
    settings = webhook_settings(tmp_path, database_url, redis_url, WEBHOOK_ALLOW_PRIVATE="false")
    dns = TableResolver({"hooks.example.com": "93.184.216.34"})
    url = f"http://hooks.example.com:{receiver.port}/hook"
    await endpoints.create_webhook(db, settings, ADMIN, {"url": url, "events": "*"}, resolver=dns)
    dns.table["hooks.example.com"] = "127.0.0.1"  # the attacker's DNS now points at the gateway's own machine
    await events.publish(arq_redis, None, events.envelope("message.received", None, {}))
    await fanout.ensure_group(arq_redis)
    await fanout.process(db, arq_redis, settings, await fanout.read_new(arq_redis, "t", block_ms=None))

    connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=False, inner=dns), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        delivery = Delivery(settings, db, arq_redis, http, HostSlots(4))
        [row] = await wait_deliveries(db, 1)
        assert await delivery.attempt(row.id) is Outcome.FAILED
    [row] = await wait_deliveries(db, 1, status=DeliveryStatus.FAILED)
    assert "loopback address 127.0.0.1" in (row.last_error or "")
    assert receiver.requests == []  # nothing reached the address the name was rebound to
    await receiver.stop()
