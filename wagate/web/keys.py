"""Typed application keys: every piece of state the web app shares between handlers."""

from __future__ import annotations

import asyncio

from aiohttp import web
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wagate.config import Settings
from wagate.services.identity.api_keys import KeyUsage
from wagate.services.identity.principal import Principal
from wagate.services.messaging.intake import SendIntake
from wagate.services.operations.limiter import Limiter
from wagate.web.database_outage import DatabaseOutage
from wagate.web.event_hub import EventHub

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
DATABASE_OUTAGE = web.AppKey("database_outage", DatabaseOutage)  # answers 503 while the database is away
REDIS = web.AppKey("redis", ArqRedis)
STARTED_AT = web.AppKey("started_at", float)
DRAINING = web.AppKey("draining", asyncio.Event)  # set on SIGTERM: readiness fails, answers close (web.serve)
SEND_INTAKE = web.AppKey("send_intake", SendIntake)  # single sends, written in groups
LIMITER = web.AppKey("limiter", Limiter)
KEY_USAGE = web.AppKey("key_usage", KeyUsage)
EVENT_HUB = web.AppKey("event_hub", EventHub)  # live events for the dashboard WebSockets
EVENT_SOCKETS = web.AppKey("event_sockets", set[web.WebSocketResponse])  # open ones, closed at shutdown

PRINCIPAL = web.RequestKey("principal", Principal)  # set by the wagate.web.auth decorators
