"""The tenant-isolation matrix, generated from /api/openapi.json: every documented operation that takes or returns a
tenant's data is called by every kind of caller bound to tenant A (admin, operator and user logins and keys, the
customer key, a session token), aimed at tenant B's things. None reaches them: no 2xx answer carries B's data, a
refusal of B's thing to a caller allowed on the route is a 404 (as for a missing thing, never "belongs to another"),
and B's rows are as they were afterwards.

Every operation of the document must be classified below, as `Tenanted` (called by the matrix) or `Outside` (with
the reason it holds no tenant's data): a new route fails this test until it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from tests.web.identities import add_user, bearer, login
from tests.web.tenancy import Db, reseller_settings, session, tenant
from wagate.config import Settings
from wagate.db.enums import (
    BroadcastStatus,
    BrokerKind,
    DeliveryStatus,
    Direction,
    MessageStatus,
    MessageType,
    Role,
    SessionStatus,
)
from wagate.db.models_chats import Chat
from wagate.db.models_delivery import Broadcast, Webhook, WebhookDelivery
from wagate.db.models_export import EventExport
from wagate.db.models_identity import ApiKey, Tenant, User
from wagate.db.models_whatsapp import Message, WaSession
from wagate.db.types import utcnow
from wagate.services.identity.credentials import new_api_key
from wagate.services.identity.principal import PERMISSIONS, Permission
from wagate.services.webhooks import secrets_box
from wagate.web import openapi

MARK = "zq7x"  # in every name and id of tenant B's things: an answer carrying it carries B's data
B_SESSION = f"b-session-{MARK}"
A_SESSION = "a-session"
B_GROUP = "120363000000000001@g.us"
PHONE = "6281234567890"
UNLIMITED = "none"


@dataclass(frozen=True)
class Things:
    """Tenant B's things, by the path parameter (or body field) that names them."""

    tenant: int
    external_id: str  # the tenant's user_id in the reseller API
    user: int
    key: int
    message: int
    broadcast: int
    webhook: int
    delivery: int
    export: int


@dataclass(frozen=True)
class Tenanted:
    """Holds tenants' data: called by every tenant-bound caller with B's things in its path, and `body`."""

    body: Callable[[Things], Any] | None = None
    query: str = ""


@dataclass(frozen=True)
class Outside:
    """Holds no tenant's data; `why` says so."""

    why: str


def _send(things: Things) -> dict[str, Any]:
    return {"session": B_SESSION, "to": PHONE, "message": "hi"}


PUBLIC = Outside("public: the gateway's description, liveness or a static dashboard file; no tenant's data")
OWN_LOGIN = Outside("the caller's own login and tokens only")
WUZAPI_SERVED = Outside("wuzapi's API: its one credential, a session token, names the one session it acts on")
WUZAPI_NOT_SERVED = Outside("wuzapi's API, not served: 501 after the session token is checked; no data")
ROUTES: dict[tuple[str, str], Tenanted | Outside] = {
    **{("GET", path): PUBLIC for path in ("/", "/health", "/api/health", "/api/openapi.json", "/api/docs",
                                          "/api/docs/{name}", "/login.html", "/dashboard.html", "/broadcast.html",
                                          "/login", "/dashboard", "/broadcast", "/css/{name}", "/js/{name}",
                                          "/img/{name}", "/favicon.ico")},
    ("POST", "/api/auth/login"): OWN_LOGIN,
    ("POST", "/api/auth/refresh"): OWN_LOGIN,
    ("POST", "/api/auth/logout"): OWN_LOGIN,
    ("GET", "/api/auth/me"): OWN_LOGIN,
    ("POST", "/api/auth/change-password"): OWN_LOGIN,
    ("GET", "/api/events"): Outside("a WebSocket: a plain GET is refused before the upgrade; its tenant scope is "
                                    "held in tests/web/test_events_ws.py"),
    **{("POST", f"/simulator/sessions/{{session_id}}/{action}"): Outside("the simulated phone (simulator only)")
       for action in ("scan", "pair-code", "inbound", "drop", "unlink", "send-failure", "receive", "react", "edit",
                      "revoke", "vote", "presence", "history", "send-limit", "silent")},
    ("POST", "/simulator/not-on-whatsapp"): Outside("the simulated network (simulator only)"),
    **{("POST", f"/simulator/sessions/{{session_id}}/groups/{action}"): Outside("simulated group members (simulator "
                                                                                "only)")
       for action in ("added", "member-action", "member-update", "join-request", "privacy")},
    # install-wide data: refused to tenant-bound callers
    ("GET", "/metrics"): Tenanted(),
    ("GET", "/admin/device-registry"): Tenanted(),
    # users and keys
    ("GET", "/api/users"): Tenanted(),
    ("POST", "/api/users"): Tenanted(lambda b: {"username": f"made-{MARK}", "password": "long enough pw 1",
                                                "role": "admin", "tenant_id": b.tenant}),
    ("GET", "/api/users/{user_id}"): Tenanted(),
    ("PUT", "/api/users/{user_id}"): Tenanted(lambda b: {"role": "user", "password": "a reset password 1"}),
    ("DELETE", "/api/users/{user_id}"): Tenanted(),
    ("GET", "/api/keys"): Tenanted(),
    ("POST", "/api/keys"): Tenanted(lambda b: {"name": "k", "role": "admin", "tenant_id": b.tenant}),
    ("DELETE", "/api/keys/{key_id}"): Tenanted(),
    # messages
    ("POST", "/api/messages/send"): Tenanted(_send),
    ("POST", "/api/messages/send-bulk"): Tenanted(lambda b: {"session": B_SESSION, "to": [PHONE], "message": "hi"}),
    ("GET", "/api/messages/{message_id}"): Tenanted(),
    ("GET", "/api/media/{message_id}"): Tenanted(),
    ("GET", "/api/messages"): Tenanted(query=f"?session={B_SESSION}"),
    # sessions
    ("GET", "/api/sessions"): Tenanted(),
    ("POST", "/api/sessions"): Tenanted(lambda b: {"name": "new", "tenant_id": b.tenant}),
    ("GET", "/api/sessions/{session_id}"): Tenanted(),
    ("DELETE", "/api/sessions/{session_id}"): Tenanted(),
    **{("POST", f"/api/sessions/{{session_id}}/{action}"): Tenanted() for action in ("start", "stop", "restart",
                                                                                       "logout", "token")},
    ("POST", "/api/sessions/{session_id}/pair"): Tenanted(lambda b: {"phone": PHONE}),
    ("GET", "/api/sessions/{session_id}/settings"): Tenanted(),
    ("PUT", "/api/sessions/{session_id}/settings"): Tenanted(lambda b: {"name": "taken", "typing_enabled": True}),
    # a session's groups and communities
    ("GET", "/api/sessions/{session_id}/groups"): Tenanted(),
    ("POST", "/api/sessions/{session_id}/groups"): Tenanted(lambda b: {"subject": "taken", "participants": [PHONE]}),
    ("POST", "/api/sessions/{session_id}/groups/join"): Tenanted(lambda b: {"link": "AbCdEfGhIjKl"}),
    ("GET", "/api/sessions/{session_id}/groups/preview"): Tenanted(query="?link=AbCdEfGhIjKl"),
    ("GET", "/api/sessions/{session_id}/groups/{jid}"): Tenanted(),
    ("PUT", "/api/sessions/{session_id}/groups/{jid}"): Tenanted(lambda b: {"subject": "taken"}),
    ("POST", "/api/sessions/{session_id}/groups/{jid}/leave"): Tenanted(),
    ("PUT", "/api/sessions/{session_id}/groups/{jid}/picture"): Tenanted(lambda b: {"image": "/9j/4AAQSkZJRg=="}),
    ("POST", "/api/sessions/{session_id}/groups/{jid}/participants"): Tenanted(
        lambda b: {"action": "add", "participants": [PHONE]}),
    ("GET", "/api/sessions/{session_id}/groups/{jid}/requests"): Tenanted(),
    ("POST", "/api/sessions/{session_id}/groups/{jid}/requests"): Tenanted(
        lambda b: {"action": "approve", "participants": [PHONE]}),
    ("GET", "/api/sessions/{session_id}/groups/{jid}/invite"): Tenanted(),
    ("POST", "/api/sessions/{session_id}/groups/{jid}/invite/revoke"): Tenanted(),
    ("GET", "/api/sessions/{session_id}/communities"): Tenanted(),
    ("POST", "/api/sessions/{session_id}/communities"): Tenanted(lambda b: {"subject": "taken"}),
    ("GET", "/api/sessions/{session_id}/communities/{jid}/groups"): Tenanted(),
    ("POST", "/api/sessions/{session_id}/communities/{jid}/groups"): Tenanted(lambda b: {"group": B_GROUP}),
    ("DELETE", "/api/sessions/{session_id}/communities/{jid}/groups/{group}"): Tenanted(),
    ("GET", "/api/qr"): Tenanted(query=f"?session={B_SESSION}"),
    ("GET", "/api/qr/{session_id}"): Tenanted(),
    ("GET", "/api/sessions/{session_id}/statuses"): Tenanted(),
    ("POST", "/api/sessions/{session_id}/statuses"): Tenanted(lambda b: {"type": "text", "text": "hi"}),
    ("GET", "/api/sessions/{session_id}/newsletters"): Tenanted(),
    ("GET", "/api/sessions/{session_id}/newsletters/info"): Tenanted(query="?jid=120363000000000001@newsletter"),
    ("PUT", "/api/sessions/{session_id}/newsletters/{jid}/follow"): Tenanted(),
    ("DELETE", "/api/sessions/{session_id}/newsletters/{jid}/follow"): Tenanted(),
    ("GET", "/api/whatsapp/status"): Tenanted(query=f"?session={B_SESSION}"),
    ("POST", "/api/whatsapp/restart"): Tenanted(lambda b: {"session": B_SESSION}),
    ("POST", "/api/whatsapp/logout"): Tenanted(lambda b: {"session": B_SESSION}),
    ("GET", "/api/dashboard/stats"): Tenanted(),
    ("GET", "/api/dashboard/charts"): Tenanted(),
    # the successful changes: A's own refused attempts name B's things only because A typed them
    ("GET", "/api/audit-logs"): Tenanted(query="?result=success"),
    # chats, contacts, a session's presence and own profile: B's session named in the query or the body
    ("GET", "/api/chats"): Tenanted(query=f"?session_id={B_SESSION}"),
    ("GET", "/api/chats/{chat}/messages"): Tenanted(query=f"?session_id={B_SESSION}"),
    **{("POST", f"/api/chats/{{chat}}/{action}"): Tenanted(lambda b: {"session_id": B_SESSION})
       for action in ("read", "archive", "unarchive", "pin", "unpin", "mute", "unmute")},
    ("POST", "/api/chats/{chat}/presence"): Tenanted(lambda b: {"session_id": B_SESSION, "state": "typing"}),
    ("POST", "/api/sessions/{session_id}/presence"): Tenanted(lambda b: {"available": True}),
    ("POST", "/api/contacts/check"): Tenanted(lambda b: {"session_id": B_SESSION, "phones": [PHONE]}),
    ("GET", "/api/contacts/blocklist"): Tenanted(query=f"?session_id={B_SESSION}"),
    ("GET", "/api/contacts/lid"): Tenanted(query=f"?session_id={B_SESSION}&phone={PHONE}"),
    **{("GET", f"/api/contacts/{{chat}}{tail}"): Tenanted(query=f"?session_id={B_SESSION}")
       for tail in ("", "/picture", "/business")},
    **{("POST", f"/api/contacts/{{chat}}/{action}"): Tenanted(lambda b: {"session_id": B_SESSION})
       for action in ("block", "unblock")},
    ("GET", "/api/sessions/{session_id}/profile"): Tenanted(),
    ("PUT", "/api/sessions/{session_id}/profile"): Tenanted(lambda b: {"about": f"taken-{MARK}"}),
    # broadcasts
    ("POST", "/api/broadcast/preview"): Tenanted(lambda b: {"session": B_SESSION, "name": "x", "template": "hi",
                                                            "recipients": [PHONE]}),
    ("POST", "/api/broadcast"): Tenanted(lambda b: {"session": B_SESSION, "name": "x", "template": "hi",
                                                    "recipients": [PHONE]}),
    ("GET", "/api/broadcast"): Tenanted(),
    ("GET", "/api/broadcast/{id}"): Tenanted(),
    ("GET", "/api/broadcast/{id}/recipients"): Tenanted(),
    ("POST", "/api/broadcast/{id}/{action}"): Tenanted(),
    # webhooks
    ("GET", "/api/webhooks"): Tenanted(),
    ("POST", "/api/webhooks"): Tenanted(lambda b: {"url": "https://a.example/hook", "tenant_id": b.tenant,
                                                   "session_id": B_SESSION}),
    ("GET", "/api/webhooks/{webhook_id}"): Tenanted(),
    ("PUT", "/api/webhooks/{webhook_id}"): Tenanted(lambda b: {"url": "https://a.example/taken"}),
    ("DELETE", "/api/webhooks/{webhook_id}"): Tenanted(),
    ("POST", "/api/webhooks/{webhook_id}/secret"): Tenanted(),
    ("GET", "/api/webhooks/{webhook_id}/deliveries"): Tenanted(),
    ("GET", "/api/webhooks/deliveries/{delivery_id}"): Tenanted(),
    ("POST", "/api/webhooks/deliveries/{delivery_id}/redeliver"): Tenanted(),
    ("POST", "/api/webhooks/{webhook_id}/redeliver"): Tenanted(query="?status=failed"),
    ("POST", "/api/webhooks/{webhook_id}/test"): Tenanted(),
    # event exports
    ("GET", "/api/exports"): Tenanted(),
    ("POST", "/api/exports"): Tenanted(lambda b: {"kind": "nats", "url": "nats://a.example:4222", "tenant_id": b.tenant,
                                                  "session_id": B_SESSION}),
    ("GET", "/api/exports/{export_id}"): Tenanted(),
    ("PUT", "/api/exports/{export_id}"): Tenanted(lambda b: {"url": "nats://a.example:4222"}),
    ("DELETE", "/api/exports/{export_id}"): Tenanted(),
    # the reseller API: a service's key only, never a tenant's credential
    ("GET", "/internal/me"): Tenanted(),
    ("GET", "/internal/users"): Tenanted(),
    ("POST", "/internal/users"): Tenanted(lambda b: {"user_id": b.external_id, "source": "svc-a",
                                                     "max_sessions": 99}),
    ("PUT", "/internal/users/{user_id}"): Tenanted(lambda b: {"max_sessions": 99}),
    ("GET", "/internal/users/{user_id}/apikey"): Tenanted(),
    ("POST", "/internal/users/{user_id}/apikey/rotate"): Tenanted(),
    # the customer API
    ("GET", "/v1/me"): Tenanted(),
    ("GET", "/v1/sessions"): Tenanted(),
    ("POST", "/v1/sessions"): Tenanted(lambda b: {"session_id": B_SESSION, "session_name": "taken"}),
    ("PUT", "/v1/sessions/{session_id}"): Tenanted(lambda b: {"session_name": "taken"}),
    ("DELETE", "/v1/sessions/{session_id}"): Tenanted(),
    ("GET", "/v1/sessions/{session_id}/settings"): Tenanted(),
    ("PUT", "/v1/sessions/{session_id}/settings"): Tenanted(lambda b: {"typing_enabled": True}),
    ("GET", "/v1/sessions/{session_id}/contacts"): Tenanted(),
    ("POST", "/v1/sessions/{session_id}/contacts/sync"): Tenanted(),
    ("POST", "/v1/sessions/{session_id}/messages"): Tenanted(lambda b: {"to": PHONE, "message": "hi"}),
    ("GET", "/v1/sessions/{session_id}/messages"): Tenanted(),
    ("GET", "/v1/sessions/{session_id}/groups"): Tenanted(),
    ("POST", "/v1/sessions/{session_id}/groups"): Tenanted(lambda b: {"subject": "taken", "participants": [PHONE]}),
    ("POST", "/v1/sessions/{session_id}/groups/{jid}/participants"): Tenanted(
        lambda b: {"action": "add", "participants": [PHONE]}),
    # the seed's credentials API
    **{("GET", path): Tenanted() for path in ("/sessions", "/sessions/connected", "/sessions/connected/credentials",
                                              "/sessions/all", "/sessions/all/credentials", "/sessions/{session_id}",
                                              "/sessions/{session_id}/credentials", "/sessions/{session_id}/status",
                                              "/sessions/{session_id}/qr")},
    # wuzapi's /wa API: a session's own token
    **{(method, path): Tenanted() for method in ("GET", "POST", "PUT", "DELETE")
       for path in ("/wa/admin", "/wa/admin{tail}")},
    # wuzapi's routes: the session token is the only credential they take and it names one session; no path,
    # query or body field names a session, so another tenant's cannot be reached (tests/web/wuzapi holds them).
    **{(route.split(" ")[0], route.split(" ")[1]): WUZAPI_SERVED for route in (
        "POST /wa/session/connect", "POST /wa/session/disconnect", "POST /wa/session/logout",
        "GET /wa/session/status", "GET /wa/session/qr", "POST /wa/session/pairphone", "GET /wa/webhook",
        "POST /wa/webhook", "PUT /wa/webhook", "DELETE /wa/webhook", "POST /wa/chat/send/text",
        "POST /wa/chat/send/image", "POST /wa/chat/send/audio", "POST /wa/chat/send/document",
        "POST /wa/chat/send/video", "POST /wa/chat/send/location", "POST /wa/user/check", "GET /wa/user/contacts",
        "POST /wa/chat/send/sticker", "POST /wa/chat/send/contact", "POST /wa/chat/send/poll",
        "POST /wa/chat/send/edit", "POST /wa/chat/delete", "POST /wa/chat/react", "POST /wa/session/proxy",
        "GET /wa/session/history", "POST /wa/user/info", "POST /wa/user/presence",
        "POST /wa/user/avatar", "GET /wa/user/avatar", "POST /wa/user/lid", "GET /wa/user/lid",
        "POST /wa/chat/markread", "POST /wa/chat/presence",
        "GET /wa/group/list", "GET /wa/group/info", "GET /wa/group/invitelink", "POST /wa/group/photo",
        "POST /wa/group/name", "POST /wa/group/topic", "POST /wa/group/announce", "POST /wa/group/locked",
        "POST /wa/group/ephemeral", "POST /wa/group/create", "POST /wa/group/leave", "POST /wa/group/participants",
        "POST /wa/group/join", "POST /wa/group/inviteinfo")},
    **{(method, f"/wa/{path}"): WUZAPI_NOT_SERVED for method in ("GET", "POST", "PUT", "DELETE") for path in (
        "chat/send/template", "chat/send/buttons", "chat/send/list",
        "chat/history", "chat/downloadimage", "chat/downloadvideo", "chat/downloadaudio", "chat/downloaddocument")},
    **{(method, "/wa/newsletter/list"): WUZAPI_SERVED for method in ("GET", "POST", "PUT", "DELETE")},
    ("GET", "/wa/status"): Tenanted(),
    ("GET", "/wa/qr"): Tenanted(),
    ("POST", "/wa/send"): Tenanted(lambda b: {"Phone": PHONE, "Body": "hi"}),
    ("GET", "/wa/messages"): Tenanted(),
    ("GET", "/wa/contacts"): Tenanted(),
}
# a refusal that says who may call the route, not whether B's thing exists
ROLE_REFUSALS = ("Permission denied: ", "This route does not accept ", "A customer API key is required",
                 "The metrics are the whole install's")


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    role: Role | None = None  # of a login or key; None for the session token
    customer: bool = False  # a tenant's key: /v1 takes it
    answers: list[str] = field(default_factory=list)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    limits = {f"RATE_LIMIT_{name}": UNLIMITED for name in ("LOGIN", "SEND", "BROADCAST", "DASHBOARD", "QR",
                                                          "KEY_USER", "KEY_OPERATOR", "SESSION")}
    return reseller_settings(tmp_path, database_url, redis_url, IP_BAN_AFTER=UNLIMITED, **limits)


async def _tenant_b(db: Db, settings: Settings) -> Things:
    b, _ = await tenant(db, f"usr_b_{MARK}")
    await session(db, B_SESSION, b, jid=f"{PHONE}@s.whatsapp.net")
    user_id = await add_user(db, f"b-user-{MARK}", Role.ADMIN, tenant_id=b)
    key = new_api_key()
    async with db() as s, s.begin():
        row = ApiKey(name=f"b-key-{MARK}", key_hash=key.hash, prefix=key.prefix, role=Role.ADMIN, tenant_id=b)
        message = Message(session_id=B_SESSION, direction=Direction.OUTBOUND, chat_jid=f"{PHONE}@s.whatsapp.net",
                          recipient=PHONE, type=MessageType.TEXT, body=f"b-body-{MARK}", status=MessageStatus.SENT)
        broadcast = Broadcast(tenant_id=b, session_id=B_SESSION, name=f"b-broadcast-{MARK}",
                              template=f"b-template-{MARK}", status=BroadcastStatus.RUNNING)
        webhook = Webhook(tenant_id=b, url=f"https://b-{MARK}.example/hook", events="*",
                          secret_encrypted=secrets_box.encrypt(settings.encryption_key, f"b-secret-{MARK}-0123456"))
        chat = Chat(session_id=B_SESSION, jid=f"{PHONE}@s.whatsapp.net", name=f"b-chat-{MARK}", unread_count=3,
                    last_message_at=utcnow())
        export = EventExport(tenant_id=b, kind=BrokerKind.NATS, target="B", url_shown=f"nats://b-{MARK}.example",
                             url_encrypted=secrets_box.encrypt(settings.encryption_key, f"nats://b-{MARK}.example"),
                             events="*")
        s.add_all([row, message, broadcast, webhook, chat, export])
        await s.flush()
        delivery = WebhookDelivery(webhook_id=webhook.id, event_id=f"evt_{MARK}", event="message.sent",
                                   payload=json.dumps({"mark": MARK}), status=DeliveryStatus.FAILED)
        s.add(delivery)
        await s.flush()
        return Things(b, f"usr_b_{MARK}", user_id, row.id, message.id, broadcast.id, webhook.id, delivery.id,
                      export.id)


async def _callers(client: TestClient, db: Db) -> list[Caller]:
    a, customer_key = await tenant(db, "usr_a")
    token = await session(db, A_SESSION, a, SessionStatus.STOPPED)  # STOPPED: /wa/contacts waits on no bridge
    callers = [Caller("customer key", {"x-api-key": customer_key}, Role.OPERATOR, customer=True),
               Caller("session token", bearer(token))]
    for role in Role:
        await add_user(db, f"a-{role}", role, tenant_id=a)
        callers.append(Caller(f"{role} login", bearer((await login(client, f"a-{role}"))["access_token"]), role))
        key = new_api_key()
        async with db() as s, s.begin():
            s.add(ApiKey(name=f"a {role}", key_hash=key.hash, prefix=key.prefix, role=role, tenant_id=a))
        callers.append(Caller(f"{role} key", {"x-api-key": key.plaintext}, role, customer=True))
    return callers


def _path(template: str, b: Things) -> str:
    values = {"{session_id}": B_SESSION, "{chat}": PHONE, "{message_id}": str(b.message), "{id}": str(b.broadcast),
              "{action}": "pause", "{webhook_id}": str(b.webhook), "{delivery_id}": str(b.delivery),
              "{key_id}": str(b.key), "{name}": "x", "{tail}": "/users", "{group}": B_GROUP,
              "{export_id}": str(b.export),
              "{jid}": "120363000000000001@newsletter" if "/newsletters/" in template else B_GROUP,
              "{user_id}": b.external_id if template.startswith("/internal/") else str(b.user)}
    for name, value in values.items():
        template = template.replace(name, value)
    assert "{" not in template, f"no value of tenant B for a parameter of {template}: add one to _path"
    return template


def _allowed(caller: Caller, method: str, template: str) -> bool:
    """Whether the route lets this caller in at all, so a refusal of B's thing must be the 404 of a missing one."""
    if template.startswith("/v1/"):
        return caller.customer
    permission = next((op.permission for op in openapi.OPERATIONS if (op.method, op.path) == (method, template)
                       and op.auth == "dashboard"), None)
    return permission is not None and caller.role is not None and Permission(permission) in PERMISSIONS[caller.role]


async def _snapshot(db: Db, b: Things) -> dict[str, Any]:
    """What tenant B has: no caller of tenant A may have changed any of it."""
    async with db() as s:
        session_row = await s.get(WaSession, B_SESSION)
        user = await s.get(User, b.user)
        key = await s.get(ApiKey, b.key)
        webhook = await s.get(Webhook, b.webhook)
        export = await s.get(EventExport, b.export)
        broadcast = await s.get(Broadcast, b.broadcast)
        tenant_row = await s.get(Tenant, b.tenant)
        keys = [(k.id, k.revoked_at) for k in await s.scalars(select(ApiKey).where(ApiKey.tenant_id == b.tenant))]
        sessions = sorted(await s.scalars(select(WaSession.id).where(WaSession.tenant_id == b.tenant)))
        users = sorted(await s.scalars(select(User.username).where(User.tenant_id == b.tenant)))
        messages = await s.scalars(select(Message.id).where(Message.session_id == B_SESSION))
        chats = [(c.unread_count, c.archived, c.pinned, c.muted_until) for c in await s.scalars(
            select(Chat).where(Chat.session_id == B_SESSION))]
    assert session_row and user and key and webhook and export and broadcast and tenant_row
    return {"session": (session_row.name, session_row.status, session_row.token_hash, session_row.settings,
                        session_row.typing_enabled),
            "user": (user.role, user.password_hash, user.tenant_id, user.is_active), "key": key.revoked_at,
            "webhook": (webhook.url, webhook.secret_encrypted, webhook.is_active),
            "export": (export.url_encrypted, export.events, export.is_active),
            "broadcast": broadcast.status, "tenant": (tenant_row.max_sessions, tenant_row.status),
            "keys": keys, "sessions": sessions, "users": users, "messages": sorted(messages), "chats": chats}


def test_every_operation_of_the_document_is_classified(settings: Settings) -> None:
    from wagate.web.app import create_app

    document = openapi.document(create_app(settings))
    unclassified = [f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops
                    if (method.upper(), path) not in ROUTES]
    assert not unclassified, ("classify these routes in tests/web/test_tenant_matrix.py ROUTES, as Tenanted "
                              f"(called by the isolation matrix) or Outside (with why): {unclassified}")


async def test_no_tenant_bound_caller_reaches_another_tenants_things(client: TestClient, db: Db,
                                                                     settings: Settings) -> None:
    b = await _tenant_b(db, settings)
    before = await _snapshot(db, b)
    callers = await _callers(client, db)
    document = await (await client.get("/api/openapi.json")).json()
    problems: list[str] = []
    called = 0
    for template, ops in document["paths"].items():
        for method in ops:
            kind = ROUTES.get((method.upper(), template))
            if not isinstance(kind, Tenanted):
                continue
            path = _path(template, b) + kind.query
            for caller in callers:
                body = kind.body(b) if kind.body is not None else None
                response = await client.request(method.upper(), path, headers=caller.headers, json=body,
                                                allow_redirects=False)
                text = await response.text()
                called += 1
                where = f"{caller.name}: {method.upper()} {path} -> {response.status} {text[:300]}"
                message = json.loads(text).get("message", "") if response.content_type == "application/json" \
                    and text.startswith("{") else ""
                if response.status >= 500:
                    problems.append(f"server error: {where}")
                elif response.status < 400 and MARK in text:
                    problems.append(f"tenant B's data in the answer: {where}")
                elif "belongs to" in text or "another account" in text:
                    problems.append(f"the refusal tells B's thing exists: {where}")
                elif (response.status == 403 and not message.startswith(ROLE_REFUSALS)
                      and "{" in template and _allowed(caller, method.upper(), template)):
                    problems.append(f"another tenant's thing must be 404, as if missing: {where}")
    assert called > 500, called
    assert not problems, f"{len(problems)} isolation failures:\n" + "\n".join(problems)
    assert await _snapshot(db, b) == before, "a caller of tenant A changed tenant B's things"
    async with db() as s:
        made = list(await s.scalars(select(User.username).where(User.username == f"made-{MARK}")))
    assert not made

