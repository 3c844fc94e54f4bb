"""Rate limits and the IP anti-spam ban, kept in Redis so every web process shares them (moving windows).

When Redis cannot be reached the limiter fails OPEN: the request is let through and the outage logged (at most
once per `OUTAGE_LOG_EVERY_S`). Why open and not closed: authentication itself never needs Redis (JWTs are
checked with the secret, API keys and logins in the database), and the brute-force guard that matters most, the
per-account lock after failed passwords, lives in the database too. Failing closed would turn a Redis restart
into a full outage of the dashboard and the read API, for no protection the database does not already give.
After a failure the limiter skips Redis for `BREAKER_S`, so a dead or frozen Redis costs one timeout, not one
per request.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import RedisError

from wagate.config import Settings
from wagate.db.enums import Role
from wagate.logging import security_log
from wagate.redis_connect import connection_pool

log = structlog.get_logger("wagate.limiter")

# The limiter's own pool with short timeouts: a frozen Redis must delay a request by a second, not by the
# 5 s the queue client allows.
REDIS_TIMEOUT_S = 1.0
BREAKER_S = 5.0
OUTAGE_LOG_EVERY_S = 60.0
KEY_PREFIX = "wagate:limits"  # every limiter key; the ban keys below live beside them
BAN_KEY = "wagate:ipban:"
# Failed logins (and those being checked) per address and username: a sorted set of attempts by time, as a
# moving window in `limits` cannot give back the place of a login that succeeded.
LOGIN_KEY = f"{KEY_PREFIX}:login_failures:"
ROUTE_LIMITS = ("login", "send", "broadcast", "dashboard", "qr")
_UNREACHABLE = (RedisError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one hit: what goes into the X-RateLimit-* headers, and Retry-After when refused."""

    allowed: bool
    limit: int
    remaining: int
    reset: float  # epoch seconds when one more request will be allowed (moving window: oldest entry + window)

    @property
    def retry_after(self) -> int:
        return max(1, math.ceil(self.reset - time.time()))

    def headers(self) -> dict[str, str]:
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining),
                   "X-RateLimit-Reset": str(math.ceil(self.reset))}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class _BanLookups:
    """The ban checks of concurrent requests share one round trip, each still made after its request arrived.

    Every public request asks whether its address is banned. One PTTL each was a Redis round trip per request;
    here the addresses asked while a lookup is in flight wait for the next one, a pipeline of one PTTL per
    distinct address (as the send intake gathers its writes). Nothing waits on purpose: a lone request is looked
    up at once, and no answer is older than the request that gets it.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiting: dict[str, list[asyncio.Future[int]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def pttl(self, key: str) -> int:
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(answer)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._look_up_while_waiting())
        return await answer

    async def _look_up_while_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            try:
                if len(batch) == 1:
                    ttls = [await self._redis.pttl(next(iter(batch)))]
                else:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for key in batch:
                            pipe.pttl(key)
                        ttls = await pipe.execute()
            except BaseException as exc:  # noqa: BLE001 - every waiting request hears of it (and fails open)
                for answers in batch.values():
                    for answer in answers:
                        if not answer.done():
                            answer.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for answers, ttl in zip(batch.values(), ttls, strict=True):
                for answer in answers:
                    if not answer.done():  # a request that went away cancelled its own
                        answer.set_result(ttl)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A place taken in the login window: a failure keeps it, anything else gives it back (`Limiter.give_back`)."""

    decision: Decision
    key: str
    member: str


def _item(value: str | None) -> RateLimitItem | None:
    return None if value is None or value.lower() == "none" else parse(value)


class Limiter:
    """Named per-route limits, role limits for API keys, failure counting and IP bans on one Redis."""

    def __init__(self, settings: Settings, pool: ConnectionPool) -> None:
        self._redis = Redis(connection_pool=pool)
        self._bans = _BanLookups(self._redis)
        # The pool is ours (one server or Sentinel's primary, see wagate.redis_connect); `limits` only wants a URI
        # that names its redis-py storage (not its Sentinel storage, which would open a second pool and read from
        # replicas).
        storage = RedisStorage("async+redis://", implementation="redispy", key_prefix=KEY_PREFIX,
                               connection_pool=pool)  # type: ignore[arg-type]  # typed as URI options; redis-py takes it
        self._window = MovingWindowRateLimiter(storage)
        self.routes: dict[str, RateLimitItem | None] = {
            "login": _item(settings.rate_limit_login), "send": _item(settings.rate_limit_send),
            "broadcast": _item(settings.rate_limit_broadcast), "dashboard": _item(settings.rate_limit_dashboard),
            "qr": _item(settings.rate_limit_qr),
        }
        self.roles: dict[Role, RateLimitItem | None] = {
            Role.ADMIN: _item(settings.rate_limit_key_admin), Role.OPERATOR: _item(settings.rate_limit_key_operator),
            Role.USER: _item(settings.rate_limit_key_user),
        }
        self.session_token = _item(settings.rate_limit_session)
        self._failures = _item(settings.ip_ban_after)
        self._ban_seconds = settings.ip_ban_seconds
        self._down_until = 0.0
        self._outage_logged = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Limiter:
        pool = connection_pool(settings.redis_url or "redis://", socket_connect_timeout=REDIS_TIMEOUT_S,
                               socket_timeout=REDIS_TIMEOUT_S)
        return cls(settings, pool)

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _unreachable(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + BREAKER_S
        now = time.monotonic()
        if now - self._outage_logged >= OUTAGE_LOG_EVERY_S:
            self._outage_logged = now
            log.warning("rate limiter cannot reach Redis; limits are not enforced (fail open)",
                        error=type(exc).__name__)

    async def hit(self, item: RateLimitItem | None, *identifiers: str) -> Decision | None:
        """Count one request against `item` for `identifiers`; None when there is no limit or Redis is down."""
        if item is None or not self._available():
            return None
        try:
            # Read the window first, then take the entry atomically: two round trips, and the acquire
            # alone decides (a concurrent request can only make the answer stricter, never looser).
            stats = await self._window.get_window_stats(item, *identifiers)
            allowed = stats.remaining > 0 and await self._window.hit(item, *identifiers)
        except _UNREACHABLE as exc:
            self._unreachable(exc)
            return None
        remaining = max(0, stats.remaining - 1) if allowed else 0
        # An empty window reports "now" as its start, so the reset is a full period away, as it should be.
        return Decision(allowed, item.amount, remaining, stats.reset_time)

    async def hit_route(self, name: str, *identifiers: str) -> Decision | None:
        return await self.hit(self.routes[name], name, *identifiers)

    async def hit_key(self, role: Role, key_id: int) -> Decision | None:
        return await self.hit(self.roles[role], "api_key", role.value, str(key_id))

    async def hit_session(self, session_id: str) -> Decision | None:
        """Every /wa call of a session's token, counted per session (a rotated token keeps the count)."""
        return await self.hit(self.session_token, "session_token", session_id)

    async def take_login_place(self, *identifiers: str) -> LoginAttempt | None:
        """Count a login attempt against RATE_LIMIT_LOGIN for `identifiers` (address and username). Only failures
        stay counted: the caller gives the place back when the login did not fail, so an operator reloading the
        page is never locked out, while concurrent guesses are still counted before any of them is checked.
        None when there is no limit or Redis is down (fail open, as every limit here)."""
        item = self.routes["login"]
        if item is None or not self._available():
            return None
        key, member = f"{LOGIN_KEY}{':'.join(identifiers)}", uuid.uuid4().hex
        now, window = time.time(), item.get_expiry()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, 0, now - window)
                pipe.zadd(key, {member: now})
                pipe.zcard(key)
                pipe.zrange(key, 0, 0, withscores=True)
                pipe.expire(key, window)
                _, _, count, oldest, _ = await pipe.execute()
            reset = (oldest[0][1] if oldest else now) + window
            if count > item.amount:
                await self._redis.zrem(key, member)
                return LoginAttempt(Decision(False, item.amount, 0, reset), key, member)
        except _UNREACHABLE as exc:
            self._unreachable(exc)
            return None
        return LoginAttempt(Decision(True, item.amount, item.amount - count, reset), key, member)

    async def give_back(self, attempt: LoginAttempt) -> Decision:
        """The login did not fail: its place no longer counts. The decision to show for it."""
        try:
            await self._redis.zrem(attempt.key, attempt.member)
        except _UNREACHABLE as exc:
            self._unreachable(exc)
        d = attempt.decision
        return Decision(d.allowed, d.limit, min(d.limit, d.remaining + 1), d.reset)

    async def banned_for(self, ip: str) -> int:
        """Seconds left on the ban of `ip`; 0 when not banned (or Redis is down)."""
        if not self._available():
            return 0
        try:
            ttl_ms = await self._bans.pttl(BAN_KEY + ip)
        except _UNREACHABLE as exc:
            self._unreachable(exc)
            return 0
        return math.ceil(ttl_ms / 1000) if ttl_ms > 0 else 0

    async def auth_failed(self, ip: str) -> bool:
        """Count an authentication failure from `ip`; ban it when it reaches the threshold. True when banned now."""
        if self._failures is None or not self._available():
            return False
        try:
            await self._window.hit(self._failures, "auth_failures", ip)
            stats = await self._window.get_window_stats(self._failures, "auth_failures", ip)
            if stats.remaining > 0:
                return False
            await self._redis.set(BAN_KEY + ip, "1", ex=self._ban_seconds)
            await self._window.clear(self._failures, "auth_failures", ip)
        except _UNREACHABLE as exc:
            self._unreachable(exc)
            return False
        security_log().warning("ip banned after repeated authentication failures", ip=ip,
                               failures=self._failures.amount, ban_seconds=self._ban_seconds)
        return True
