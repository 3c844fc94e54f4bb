"""A webhook receiver on 127.0.0.1 for tests: records every request and answers as told (status, delay, down)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from arq import Worker
from multidict import CIMultiDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from tests.fixtures import make_settings
from tests.workers import running_in_loop
from wagate.config import Settings
from wagate.db.enums import ActorType
from wagate.db.models_delivery import WebhookDelivery
from wagate.services.webhooks import endpoints
from workers.worker import create_worker

REPLAY_WINDOW_S = 300


@dataclass
class Received:
    path: str
    headers: CIMultiDict[str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class DummyReceiver:
    """`path_answers`, then `answers` are used first, one per request; then `status`. `delay_s` holds every answer."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: deque[int] = deque()
        self.path_answers: dict[str, deque[int]] = {}  # used before `answers` for requests to that path
        self.status = 200
        self.delay_s = 0.0
        self.port = 0
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(request.path, CIMultiDict(request.headers), await request.read()))
        self.arrived.set()
        planned = self.path_answers.get(request.path) or self.answers
        status = planned.popleft() if planned else self.status
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.Response(status=status, text="ok" if status < 300 else "no")

    async def start(self) -> None:
        """Listen (again, on the same port after `stop`)."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the socket: connections are refused until `start`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.requests)} of {count} requests arrived in {timeout_s} s")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), max(0.01, deadline - time.monotonic()))
        return self.requests


def verify_wagate(secret: str, request: Received, *, now: float | None = None,
                  window_s: int = REPLAY_WINDOW_S) -> bool:
    """What a receiver does for the wagate scheme: HMAC over "<timestamp>.<raw body>", timestamp within the window."""
    timestamp = request.headers.get("X-WAGate-Timestamp", "")
    given = request.headers.get("X-WAGate-Signature", "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > window_s:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body,
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def verify_compat(secret: str, request: Received) -> bool:
    """What spatie/laravel-webhook-client's DefaultSignatureValidator does: HMAC of the raw body in `Signature`."""
    expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers.get("Signature", ""))


# --- arranging webhooks and running the worker -----------------------------------------------------------------


FAST = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_FAST_S": "0.1,0.1,0.1,0.1,0.1",
        "WEBHOOK_RETRY_SLOW_S": "0.2", "WEBHOOK_RETRY_JITTER": "0", "WEBHOOK_TIMEOUT_S": "2"}


@dataclass(frozen=True)
class SystemActor:
    actor_type: ActorType = ActorType.SYSTEM
    actor_id: str | None = "tests"


ADMIN = endpoints.Caller(SystemActor())


@asynccontextmanager
async def listening() -> AsyncIterator[DummyReceiver]:
    """A receiver on 127.0.0.1 for as long as the block runs."""
    server = DummyReceiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def webhook_settings(tmp_path: Path, database_url: str, redis_url: str, **environ: str) -> Settings:
    return make_settings(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, **{**FAST, **environ})


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[Worker]:
    """The real worker process's arq Worker (fan-out reader, delivery jobs, sweep) in this loop."""
    async with running_in_loop(create_worker(settings, handle_signals=False)) as worker:
        yield worker


async def deliveries(db: async_sessionmaker[AsyncSession], **where: Any) -> list[WebhookDelivery]:
    async with db() as s:
        query = select(WebhookDelivery).options(selectinload(WebhookDelivery.attempt_log)).order_by(WebhookDelivery.id)
        for name, value in where.items():
            query = query.where(getattr(WebhookDelivery, name) == value)
        return list(await s.scalars(query))


async def wait_deliveries(db: async_sessionmaker[AsyncSession], count: int, timeout_s: float = 15.0, **where: Any
                          ) -> list[WebhookDelivery]:
    """Poll until `count` deliveries match `where` (e.g. status=DeliveryStatus.DELIVERED)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await deliveries(db, **where)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {count} deliveries with {where} after {timeout_s} s: "
                               f"{[(d.id, d.status, d.attempts, d.last_error) for d in await deliveries(db)]}")
        await asyncio.sleep(0.05)
