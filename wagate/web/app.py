"""The web application factory: middlewares, resources opened in cleanup contexts, and routes."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator

from aiohttp import web
from arq.connections import ArqRedis

from wagate.config import Settings
from wagate.db.engine import create_engine, create_sessionmaker
from wagate.redis_connect import queue_client
from wagate.services.messaging.intake import SendIntake
from wagate.web import auth as web_auth
from wagate.web import edge, limits, middlewares, serve
from wagate.web.database_outage import DatabaseOutage
from wagate.web.keys import DATABASE_OUTAGE, DB, DRAINING, ENGINE, REDIS, SEND_INTAKE, SETTINGS, STARTED_AT
from wagate.web.routes import (
    audit_log,
    auth,
    broadcasts,
    channels,
    chats,
    contacts,
    credentials,
    customer,
    customer_groups,
    dashboard,
    docs,
    events_ws,
    exports,
    groups,
    internal,
    keys,
    media,
    messages,
    metrics,
    openapi,
    qr,
    registry,
    sessions_api,
    simulator,
    simulator_groups,
    static,
    system,
    users,
    wa,
    webhooks,
    whatsapp,
    wuzapi,
)

REDIS_TIMEOUT_S = 5.0


def redis_client(url: str) -> ArqRedis:
    """An arq-capable Redis client that connects lazily, so the web starts (and reports 503) with Redis down."""
    return queue_client(url, socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S,
                        health_check_interval=30, retry_on_timeout=True)


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[SETTINGS])
    app[ENGINE] = engine
    app[DB] = create_sessionmaker(engine)
    app[DATABASE_OUTAGE] = DatabaseOutage(engine)
    yield
    await app[DATABASE_OUTAGE].close()
    await engine.dispose()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set (wagate run starts an embedded Valkey and sets it)")
    app[REDIS] = redis_client(settings.redis_url)
    yield
    await app[REDIS].aclose(close_connection_pool=True)  # the pool was made here, not by the client


async def _send_intake(app: web.Application) -> AsyncIterator[None]:
    app[SEND_INTAKE] = SendIntake(app[DB], app[REDIS], app[SETTINGS])
    yield
    await app[SEND_INTAKE].close()  # before the database and Redis close: what was accepted gets written


async def _freeze_startup_objects(app: web.Application) -> None:
    """Keep what start-up loaded (modules, ORM mappings, phone metadata: some 10^5 objects) out of the garbage
    collector's full passes: a full pass over them stalled every request for about 50 ms, several times a second
    under load. Frozen objects are never freed, so what is garbage is collected first; shutdown unfreezes them."""
    gc.collect()
    gc.freeze()


async def _unfreeze(app: web.Application) -> None:
    gc.unfreeze()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.max_upload_bytes + 64 * 1024,
        middlewares=[
            middlewares.request_context(settings.trusted_proxies),
            middlewares.security_headers,
            edge.ip_filter(settings.ip_allow, settings.ip_deny),  # on the address request_context resolved
            edge.cors(settings.cors_origins),  # preflights are answered before any route, credential or limit
            middlewares.errors,
            limits.ip_ban,  # knows the client address, answers with the error shape
            middlewares.session_id_in_path,
        ],
    )
    app[SETTINGS] = settings
    app[STARTED_AT] = time.time()
    app[DRAINING] = asyncio.Event()
    app.on_response_prepare.append(serve.close_while_draining)
    # The key-usage batcher writes to the database at shutdown: it must close before the engine does.
    app.cleanup_ctx.extend([_database, _redis, _send_intake, limits.limiter_context, limits.key_usage_context,
                            web_auth.key_cache_context])
    app.cleanup_ctx.append(events_ws.hub_context)  # after _redis: the hub's pub/sub is on its pool
    app.on_shutdown.append(events_ws.close_sockets)
    app.on_response_prepare.append(middlewares.server_header)
    app.on_startup.append(_freeze_startup_objects)  # after the cleanup contexts opened the pools
    app.on_cleanup.append(_unfreeze)
    app.add_routes(system.routes)
    app.add_routes(metrics.routes)  # GET /metrics: admin or METRICS_ALLOW_IPS
    app.add_routes(auth.routes)
    app.add_routes(users.routes)
    app.add_routes(keys.routes)
    for area in (internal, customer, credentials, wa, registry):
        app.add_routes(area.routes)
    app.add_routes(wuzapi.routes())  # after wa: /wa/admin* is refused before any of these
    for area in (messages, sessions_api, qr, whatsapp, dashboard, openapi, docs):  # the WA-Gate v2 API, its spec
        app.add_routes(area.routes)
    app.add_routes(groups.routes)  # a session's groups and communities, through its connection
    app.add_routes(customer_groups.routes)  # the same on /v1
    app.add_routes(channels.routes)  # statuses and channels of a session
    app.add_routes(broadcasts.routes)
    app.add_routes([*chats.routes, *contacts.routes])  # chats, contacts, a session's presence and own profile
    app.add_routes(media.routes)  # GET /api/media/{id}: a message's medium, with a key or a signed link
    app.add_routes(webhooks.routes)
    app.add_routes(exports.routes)
    app.add_routes(audit_log.routes)
    app.add_routes(events_ws.routes)  # the dashboard: live events and its pages
    app.add_routes(static.routes)
    if settings.wa_transport == "simulator":  # the phone side of a fake WhatsApp: never with the real one
        app.add_routes(simulator.routes)
        app.add_routes(simulator_groups.routes)
    return app
