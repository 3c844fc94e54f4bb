"""Typed application keys: every piece of state the web app shares between handlers."""

from __future__ import annotations

from aiohttp import web
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from wagate.config import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
DB = web.AppKey("db", async_sessionmaker[AsyncSession])
REDIS = web.AppKey("redis", ArqRedis)
STARTED_AT = web.AppKey("started_at", float)
