"""The OpenAPI 3.1 document of every route the gateway serves, built with apispec from one table.

Adding a route to the spec is one line in `OPERATIONS`: method, path as the router spells it, summary, who may
call it, and (optionally) the marshmallow schemas of its query, body and `data`. `tests/web/test_openapi.py`
fails while a served route has no line. Only lines whose route the app serves are emitted, so the document
never lists a route this process does not answer (the simulator's, with the real transport).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from wagate import __version__, session_ids
from wagate.schemas import audit as aud
from wagate.schemas import auth as ath
from wagate.schemas import broadcasts as bro
from wagate.schemas import credentials as cre
from wagate.schemas import customer as cus
from wagate.schemas import dashboard as dash
from wagate.schemas import messages as msg
from wagate.schemas import responses as res
from wagate.schemas import sessions as ses
from wagate.schemas import simulator as sim
from wagate.schemas import simulator_incoming as sim_in
from wagate.schemas import tenants as ten
from wagate.schemas import webhooks as hooks
from wagate.web.openapi_channels import channel_operations
from wagate.web.openapi_chats import chats_operations
from wagate.web.openapi_events import event_schemas, event_webhooks
from wagate.web.openapi_exports import export_operations
from wagate.web.openapi_groups import groups_operations, wuzapi_groups_operations
from wagate.web.openapi_media import media_operations
from wagate.web.openapi_wuzapi import wuzapi_operations

ANY_METHODS = ("get", "post", "put", "delete")  # how a `*` route appears: every method it answers
_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "Dashboard access token from POST /api/auth/login (15 minutes)"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "An API key (wag_…)"},
    "apiKeyBearer": {"type": "http", "scheme": "bearer", "description": "An API key (wag_…) as a Bearer token"},
    "internalKey": {"type": "apiKey", "in": "header", "name": "x-internal-api-key",
                    "description": "A key of INTERNAL_API_KEYS (svc:key scoped, or bare for global); Bearer works too"},
    "internalBearer": {"type": "http", "scheme": "bearer", "description": "An INTERNAL_API_KEYS key as Bearer"},
    "sessionToken": {"type": "apiKey", "in": "query", "name": "token", "description": "A session's own token"},
    "sessionHeader": {"type": "apiKey", "in": "header", "name": "token", "description": "A session's own token"},
    "sessionBearer": {"type": "http", "scheme": "bearer", "description": "A session's own token as Bearer"},
    "registryBearer": {"type": "http", "scheme": "bearer", "description": "REGISTRY_TOKEN"},
    "registryBasic": {"type": "http", "scheme": "basic", "description": "REGISTRY_USER / REGISTRY_PASS"},
}
AUTH: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "dashboard": [{"jwt": []}, {"apiKey": []}, {"apiKeyBearer": []}],
    "login": [{"jwt": []}],
    "customer": [{"apiKey": []}],
    "internal": [{"internalKey": []}, {"internalBearer": []}],
    "session": [{"sessionHeader": []}, {"sessionBearer": []}, {"sessionToken": []}],
    "wuzapi": [{"sessionHeader": []}, {"sessionBearer": []}, {"sessionToken": []}],
    "registry": [{"registryBearer": []}, {"registryBasic": []}],
}
ERRORS = {400: "Invalid input; `details` names the fields", 401: "No or wrong credentials",
          403: "Not allowed: role, tenant, subscription or another site", 404: "Not found", 409: "State conflict",
          413: "Upload too large", 415: "File or body type not allowed",
          422: "Valid, but not possible for what it names (an edit or revoke of a received message)",
          429: "Rate limited (Retry-After)",
          501: "Not served: the capability is missing (wuzapi's routes; `details.capability` names it)",
          502: "WhatsApp (through the bridge) could not do it",
          503: "Database or Redis unavailable (or, for a send, ffmpeg missing)"}
# Of a reseller or /wa send: 409 while the session is not WORKING (or an edit past WhatsApp's window), 415 for a
# file that is not what it says, 422 for an edit or revoke of a received message, 503 without ffmpeg.
SEND_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 503)


@dataclass(frozen=True, slots=True)
class Op:
    method: str
    path: str
    summary: str
    tag: str
    auth: str = "dashboard"
    permission: str | None = None  # of the RBAC matrix, for `dashboard` routes
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    data: type[Schema] | None = None  # the `data` of a `{success, message, data}` answer; of a `raw` one, all of it
    many: bool = False
    count: bool = False  # the answer also has `count`, the length of the `data` list
    no_data: bool = False  # `data` is null
    maybe_none: bool = False  # `data` is null when there is nothing to show (no picture, not a business)
    status: int = 200
    also: tuple[int, ...] = ()  # other statuses of the same shape (a replayed send's 200, an unhealthy 503)
    errors: tuple[int, ...] = (400, 401, 403, 404)
    multipart: bool = False
    optional_body: bool = False  # no body at all is accepted too
    raw: bool = False  # answers in its own (seed-compatible) shape, not `{success, message, data}`
    media: tuple[str, ...] = ("application/json",)  # the content types of a success answer


# A customer id two services share, given by a global key without `source`: which one is meant is a 409.
AMBIGUOUS = (400, 401, 403, 404, 409)


def _ops() -> list[Op]:
    s, m, d, a, r, b, h = ses, msg, dash, ath, res, bro, hooks
    return [
        Op("GET", "/", "Service name and version", "system", "public", raw=True, errors=(), data=r.ServiceInfoSchema),
        Op("GET", "/health", "Liveness: the process serves", "system", "public", raw=True, errors=(),
           data=r.LivenessSchema),
        Op("GET", "/api/health", "Readiness: database, Redis, queues, WhatsApp, process metrics (503 when down)",
           "system", "public", raw=True, errors=(), also=(503,), data=r.HealthSchema),
        Op("GET", "/api/openapi.json", "This document", "system", "public", raw=True, errors=()),
        Op("GET", "/api/docs", "Swagger UI over this document (no CDN: works offline)", "system", "public", raw=True,
           errors=(), media=("text/html",)),
        Op("GET", "/api/docs/{name}", "The Swagger UI page's scripts and style sheet", "system", "public", raw=True,
           errors=(404,), media=("text/javascript", "text/css", "image/png")),
        Op("GET", "/metrics", "Prometheus metrics of the host (admin, or an address in METRICS_ALLOW_IPS)", "system",
           permission="system", raw=True, errors=(401, 403), media=("text/plain",)),
        # auth and administration
        Op("POST", "/api/auth/login", "Log in: access token and refresh token", "auth", "public", body=a.LoginSchema,
           data=r.TokensSchema, errors=(400, 401, 403, 415, 429)),
        Op("POST", "/api/auth/refresh", "Rotate the refresh token for a new access token", "auth", "public",
           body=a.RefreshSchema, optional_body=True, data=r.TokensSchema, errors=(400, 401, 403, 415)),
        Op("POST", "/api/auth/logout", "Revoke the refresh token family", "auth", "login", body=a.RefreshSchema,
           optional_body=True, data=r.RevokedSchema, errors=(400, 403, 415)),
        Op("GET", "/api/auth/me", "The logged-in user", "auth", "login", data=r.MeSchema, errors=(401, 404)),
        Op("POST", "/api/auth/change-password", "Change the own password", "auth", "login",
           body=a.ChangePasswordSchema, data=r.RevokedSchema, errors=(400, 401, 403, 429)),
        Op("GET", "/api/users", "List dashboard users", "users", permission="user_management", data=a.UserSchema,
           many=True, errors=(401, 403, 429)),
        Op("POST", "/api/users", "Create a dashboard user", "users", permission="user_management", status=201,
           body=a.UserCreateSchema, data=a.UserSchema, errors=(400, 401, 403, 404, 409, 429)),
        Op("GET", "/api/users/{user_id}", "One dashboard user", "users", permission="user_management",
           data=a.UserSchema, errors=(401, 403, 404, 429)),
        Op("PUT", "/api/users/{user_id}", "Change a dashboard user", "users", permission="user_management",
           body=a.UserUpdateSchema, data=a.UserSchema, errors=(400, 401, 403, 404, 409, 429)),
        Op("DELETE", "/api/users/{user_id}", "Delete a dashboard user", "users", permission="user_management",
           no_data=True, errors=(401, 403, 404, 409, 429)),
        Op("GET", "/api/keys", "List API keys", "keys", permission="user_management", data=a.ApiKeySchema, many=True,
           errors=(401, 403, 429)),
        Op("POST", "/api/keys", "Create an API key (shown once)", "keys", permission="user_management", status=201,
           body=a.ApiKeyCreateSchema, data=r.CreatedKeySchema, errors=(400, 401, 403, 404, 409, 429)),
        Op("DELETE", "/api/keys/{key_id}", "Revoke an API key", "keys", permission="user_management",
           data=a.ApiKeySchema, errors=(401, 403, 404, 409, 429)),
        # WA-Gate v2 messages
        Op("POST", "/api/messages/send", "Send a message (JSON, or multipart with `file`); honours Idempotency-Key",
           "messages", permission="send_message", body=m.SendSchema, data=m.MessageSchema, status=202,
           errors=(400, 401, 403, 404, 409, 413, 415, 422, 429, 503), multipart=True),
        Op("POST", "/api/messages/send-bulk", "The same text to up to 100 numbers", "messages",
           permission="send_message", body=m.SendBulkSchema, data=r.BulkSendSchema, status=202,
           errors=(400, 401, 403, 404, 409, 429)),
        Op("GET", "/api/messages/{message_id}", "One message: status, timestamps, error", "messages",
           permission="view_logs", data=m.MessageSchema),
        Op("GET", "/api/messages", "List messages, newest first", "messages", permission="view_logs",
           query=m.ListQuerySchema, data=m.MessagePageSchema),
        # dashboard sessions
        Op("GET", "/api/sessions", "List sessions", "sessions", permission="view_logs", query=s.SessionQuerySchema,
           data=s.SessionSchema, many=True),
        Op("POST", "/api/sessions", "Create a session; its token is shown once", "sessions", permission="system",
           body=s.CreateSessionSchema, data=r.CreatedSessionSchema, status=201, errors=(400, 401, 403, 404, 409)),
        Op("GET", "/api/sessions/{session_id}", "One session", "sessions", permission="view_logs",
           data=s.SessionSchema),
        Op("DELETE", "/api/sessions/{session_id}", "Delete a session and unlink its phone", "sessions",
           permission="system", data=r.JobSchema, errors=(401, 403, 404, 409)),
        *[Op("POST", f"/api/sessions/{{session_id}}/{c}", f"{c.capitalize()} the session (bridge job)", "sessions",
             permission="send_message", data=r.JobSchema, status=202, errors=(401, 403, 404, 409))
          for c in ("start", "stop", "restart")],
        Op("POST", "/api/sessions/{session_id}/logout", "Log out: unlinks the phone", "sessions", permission="system",
           data=r.JobSchema, status=202, errors=(401, 403, 404, 409)),
        Op("POST", "/api/sessions/{session_id}/pair", "Link by pairing code for a phone number", "sessions",
           permission="send_message", body=s.PairSchema, data=r.JobSchema, status=202,
           errors=(400, 401, 403, 404, 409)),
        Op("GET", "/api/sessions/{session_id}/settings", "Session settings", "sessions", permission="view_logs",
           data=s.SessionSettingsSchema),
        Op("PUT", "/api/sessions/{session_id}/settings", "Change session settings", "sessions", permission="system",
           body=s.SettingsSchema, data=s.SessionSettingsSchema),
        Op("POST", "/api/sessions/{session_id}/token", "Rotate the session token (shown once)", "sessions",
           permission="system", data=r.SessionTokenSchema, errors=(401, 403, 404)),
        # broadcasts
        Op("POST", "/api/broadcast/preview", "Check a recipient list and template without sending", "broadcasts",
           permission="broadcast", body=b.CreateSchema, data=r.BroadcastPreviewSchema, errors=(400, 401, 403, 413,
                                                                                                415, 429)),
        Op("POST", "/api/broadcast", "Create a broadcast (CSV or JSON recipients)", "broadcasts",
           permission="broadcast", body=b.CreateSchema, data=r.CreatedBroadcastSchema, status=201,
           errors=(400, 401, 403, 404, 409, 413, 415, 429)),
        Op("GET", "/api/broadcast", "List broadcasts", "broadcasts", permission="broadcast", query=b.ListQuerySchema,
           data=r.BroadcastPageSchema, errors=(400, 401, 403)),
        Op("GET", "/api/broadcast/{id}", "One broadcast and its progress", "broadcasts", permission="broadcast",
           data=r.BroadcastViewSchema, errors=(401, 403, 404)),
        Op("GET", "/api/broadcast/{id}/recipients", "A broadcast's recipients", "broadcasts", permission="broadcast",
           query=b.RecipientsQuerySchema, data=r.RecipientPageSchema),
        Op("POST", "/api/broadcast/{id}/{action}", "Pause, resume or cancel a broadcast", "broadcasts",
           permission="broadcast", data=b.BroadcastSchema, errors=(400, 401, 403, 404, 409, 429)),
        *export_operations(Op),  # event exports to brokers
        # webhooks
        Op("GET", "/api/webhooks", "List webhooks", "webhooks", permission="webhooks", data=r.WebhookSchema, many=True,
           errors=(401, 403)),
        Op("POST", "/api/webhooks", "Create a webhook (its secret is shown once)", "webhooks", permission="webhooks",
           body=h.WebhookCreateSchema, data=r.CreatedWebhookSchema, status=201, errors=(400, 401, 403, 404)),
        Op("GET", "/api/webhooks/{webhook_id}", "One webhook", "webhooks", permission="webhooks",
           data=r.WebhookSchema),
        Op("PUT", "/api/webhooks/{webhook_id}", "Change a webhook", "webhooks", permission="webhooks",
           body=h.WebhookUpdateSchema, data=r.WebhookSchema, errors=(400, 401, 403, 404, 409)),
        Op("DELETE", "/api/webhooks/{webhook_id}", "Delete a webhook", "webhooks", permission="webhooks",
           no_data=True, errors=(401, 403, 404, 409)),
        Op("POST", "/api/webhooks/{webhook_id}/secret", "Rotate the signing secret (shown once)", "webhooks",
           permission="webhooks", data=r.SecretSchema),
        Op("GET", "/api/webhooks/{webhook_id}/deliveries", "A webhook's deliveries (filter by status)", "webhooks",
           permission="webhooks", query=h.DeliveriesQuery, data=r.DeliveryPageSchema),
        Op("GET", "/api/webhooks/deliveries/{delivery_id}", "One delivery with every attempt", "webhooks",
           permission="webhooks", data=r.DeliveryDetailSchema),
        Op("POST", "/api/webhooks/deliveries/{delivery_id}/redeliver", "Deliver one delivery again", "webhooks",
           permission="webhooks", data=r.DeliverySchema, status=202, errors=(401, 403, 404, 409)),
        Op("POST", "/api/webhooks/{webhook_id}/redeliver", "Deliver again every exhausted or failed delivery",
           "webhooks", permission="webhooks", query=h.RedeliverQuery, data=r.CountSchema, status=202),
        Op("POST", "/api/webhooks/{webhook_id}/test", "Send a test event", "webhooks", permission="webhooks",
           data=r.DeliverySchema, status=202, errors=(401, 403, 404, 409)),
        # QR, WhatsApp, dashboard
        Op("GET", "/api/qr", "The QR code to scan (PNG with ?format=png); 409/404 with the status when none",
           "qr", permission="send_message", query=s.SessionChoiceSchema, data=s.QrSchema,
           errors=(400, 401, 403, 404, 409, 429)),
        Op("GET", "/api/qr/{session_id}", "The QR code of one session", "qr", permission="send_message",
           query=s.SessionChoiceSchema, data=s.QrSchema, errors=(400, 401, 403, 404, 409, 429)),
        Op("GET", "/api/whatsapp/status", "Status of the (only or named) session", "whatsapp", permission="view_logs",
           query=s.SessionChoiceSchema, data=s.WhatsAppStatusSchema),
        Op("POST", "/api/whatsapp/restart", "Restart the session's connection", "whatsapp",
           permission="send_message", query=s.SessionChoiceSchema, body=s.SessionChoiceSchema, optional_body=True,
           data=r.JobSchema, status=202, errors=(400, 401, 403, 404, 409)),
        Op("POST", "/api/whatsapp/logout", "Log out the session (unlinks the phone)", "whatsapp", permission="system",
           query=s.SessionChoiceSchema, body=s.SessionChoiceSchema, optional_body=True, data=r.JobSchema, status=202,
           errors=(400, 401, 403, 404, 409)),
        Op("GET", "/api/dashboard/stats", "Live numbers: sessions, queue, today, webhooks, process", "dashboard",
           permission="view_logs", data=d.StatsSchema, errors=(401, 403, 429)),
        Op("GET", "/api/dashboard/charts", "Charts over a day (hourly), week or month", "dashboard",
           permission="view_logs", query=d.ChartsQuerySchema, data=d.ChartsSchema, errors=(400, 401, 403, 429)),
        # internal service API
        Op("GET", "/internal/me", "The calling service", "internal", "internal", raw=True, data=r.InternalMeSchema),
        Op("GET", "/internal/users", "List customers of the service", "internal", "internal", raw=True,
           query=ten.UsersQuerySchema, data=r.InternalUserPageSchema),
        Op("POST", "/internal/users", "Create or update a customer and subscription", "internal", "internal",
           raw=True, body=ten.UserUpsertSchema, data=r.InternalUpsertSchema),
        Op("PUT", "/internal/users/{user_id}", "Change a customer's subscription", "internal", "internal", raw=True,
           query=ten.SourceQuerySchema, body=ten.UserUpdateSchema, data=r.InternalUserAnswerSchema, errors=AMBIGUOUS),
        Op("GET", "/internal/users/{user_id}/apikey", "A customer's API key info", "internal", "internal", raw=True,
           query=ten.SourceQuerySchema, data=r.InternalKeySchema, errors=AMBIGUOUS),
        Op("POST", "/internal/users/{user_id}/apikey/rotate", "Rotate a customer's API key", "internal", "internal",
           raw=True, query=ten.SourceQuerySchema, data=r.InternalKeySchema, errors=AMBIGUOUS),
        # customer API
        Op("GET", "/v1/me", "The customer and subscription", "customer", "customer", raw=True, data=r.CustomerMeSchema),
        Op("GET", "/v1/sessions", "The customer's sessions", "customer", "customer", raw=True,
           data=r.CustomerSessionListSchema),
        Op("POST", "/v1/sessions", "Create a session", "customer", "customer", raw=True, body=cus.SessionCreateSchema,
           status=201, data=r.CustomerSessionAnswerSchema),
        Op("PUT", "/v1/sessions/{session_id}", "Rename a session", "customer", "customer", raw=True,
           body=cus.SessionUpdateSchema, data=r.CustomerSessionAnswerSchema),
        Op("DELETE", "/v1/sessions/{session_id}", "Delete a session", "customer", "customer", raw=True,
           data=r.CustomerDeletedSchema),
        Op("GET", "/v1/sessions/{session_id}/settings", "Session settings", "customer", "customer", raw=True,
           data=r.CustomerSettingsAnswerSchema),
        Op("PUT", "/v1/sessions/{session_id}/settings", "Change session settings", "customer", "customer", raw=True,
           body=cus.SessionSettingsSchema, data=r.CustomerSettingsAnswerSchema),
        Op("GET", "/v1/sessions/{session_id}/contacts", "Contacts", "customer", "customer", raw=True,
           query=cus.ContactsQuerySchema, data=r.ContactListSchema),
        Op("POST", "/v1/sessions/{session_id}/contacts/sync", "Sync contacts", "customer", "customer", raw=True,
           status=202, data=r.ContactSyncSchema, errors=(400, 401, 403, 404, 409)),  # 409: not WORKING
        Op("POST", "/v1/sessions/{session_id}/messages", "Send a message (JSON, or multipart with `file`)",
           "customer", "customer", raw=True, body=m.SendSchema, multipart=True, status=202, also=(200,),
           errors=SEND_ERRORS, data=r.QueuedMessageSchema),
        Op("GET", "/v1/sessions/{session_id}/messages", "List messages", "customer", "customer", raw=True,
           query=cus.MessagesQuerySchema, data=r.MessageListSchema),
        # session credentials (seed-compatible), per-session API, device registry
        *[Op("GET", p, summary, "credentials", permission="view_logs", data=data, many=many, count=many)
          for p, summary, data, many in (
            ("/sessions", "Active sessions", cre.BasicSessionSchema, True),
            ("/sessions/connected", "Connected sessions", cre.BasicSessionSchema, True),
            ("/sessions/connected/credentials", "Credentials of connected sessions", cre.CredentialsSessionSchema,
             True),
            ("/sessions/all", "All sessions", cre.BasicSessionSchema, True),
            ("/sessions/all/credentials", "Credentials of all sessions", cre.CredentialsSessionSchema, True),
            ("/sessions/{session_id}", "One session", cre.BasicSessionSchema, False),
            ("/sessions/{session_id}/credentials", "One session's credentials", cre.CredentialsSessionSchema, False),
            ("/sessions/{session_id}/status", "One session's status", cre.StatusSchema, False))],
        Op("GET", "/sessions/{session_id}/qr", "The QR code to scan now (`qr` null when none)", "credentials",
           permission="view_logs", data=r.CredentialsQrSchema, errors=(400, 401, 403, 404, 429)),
        Op("*", "/wa/admin", "Always refused: no admin surface under /wa", "wa", "public", raw=True, errors=(404,)),
        Op("*", "/wa/admin{tail}", "Always refused: no admin surface under /wa", "wa", "public", raw=True,
           errors=(404,)),
        *[Op(method, f"/wa/{name}", summary, "wa", "session", raw=True, query=query, body=body, data=data,
             multipart=body is not None, status=202 if body else 200, also=(200,) if body else (),
             errors=SEND_ERRORS if body else (400, 401, 403, 404))
          for method, name, summary, query, body, data in (
            ("GET", "status", "The session's status", None, None, r.WaStatusSchema),
            ("GET", "qr", "The session's QR code", None, None, r.SessionQrSchema),
            ("POST", "send", "Send a message (JSON, or multipart with `file`)", None, m.SendSchema,
             r.QueuedMessageSchema),
            ("GET", "messages", "The session's messages", cus.MessagesQuerySchema, None, r.MessageListSchema),
            ("GET", "contacts", "The session's contacts", cus.ContactsQuerySchema, None, r.ContactListSchema))],
        Op("GET", "/admin/device-registry", "Session tokens of the device registry (404 while not configured)",
           "registry", "registry", raw=True, data=r.RegistryEntrySchema, many=True, errors=(401, 404)),
        # the simulated phone (WA_TRANSPORT=simulator only)
        *[Op("POST", f"/simulator/sessions/{{session_id}}/{name}", summary, "simulator", "public", body=body,
             optional_body=not any(f.required for f in body._declared_fields.values()),  # no body: {}
             data=r.SimulatorJobSchema, status=202, errors=(400, 404, 409))
          for name, summary, body in (
            ("scan", "The phone scans the QR code", sim.ScanSchema),
            ("pair-code", "The phone enters the pairing code", sim.PairCodeSchema),
            ("inbound", "A message to the session", sim.InboundSchema),
            ("drop", "The network drops", sim.DropSchema),
            ("unlink", "The phone removes the linked device", sim.UnlinkSchema),
            ("send-failure", "Make sends fail", sim.SendFailureSchema),
            *((path, summary, schema) for path, (schema, _, summary) in sim_in.CONTACT_PLAYS.items()),
            ("send-limit", "WhatsApp refuses sends for a while (463: new contacts, 429: all)", sim.SendLimitSchema),
            ("silent", "The connection carries nothing until the session reconnects", sim.SilentSchema))],
        Op("POST", "/simulator/not-on-whatsapp", "Treat a number as not on WhatsApp", "simulator", "public",
           body=sim.NotOnWhatsAppSchema, data=r.SimulatorJobsSchema, status=202, errors=(400,)),
        Op("GET", "/api/audit-logs", "The audit trail, newest first (filters: action, actor, target, result, from/to)",
           "audit", permission="system", query=aud.AuditQuerySchema, data=r.AuditPageSchema,
           errors=(400, 401, 403, 429)),
        # the dashboard: live events (WebSocket, token in the first frame; see wagate/web/routes/events_ws.py), pages
        Op("GET", "/api/events", "WebSocket of live events (send {\"type\": \"auth\", \"token\"} first)", "dashboard",
           "public", raw=True, errors=(400,)),
        *[Op("GET", f"/{name}.html", f"The {name} page", "pages", "public", raw=True, errors=(),
             media=("text/html",)) for name in ("login", "dashboard", "broadcast")],
        *[Op("GET", f"/{name}", f"Redirect to /{name}.html", "pages", "public", raw=True, errors=(), status=302,
             media=("text/plain",)) for name in ("login", "dashboard", "broadcast")],
        *[Op("GET", f"/{folder}/{{name}}", f"Dashboard {kind}", "pages", "public", raw=True, errors=(404,),
             media=media) for folder, kind, media in (
            ("css", "style sheets", ("text/css",)), ("js", "scripts (ES modules)", ("text/javascript",)),
            ("img", "images", ("image/svg+xml", "image/png", "image/x-icon")))],
        Op("GET", "/favicon.ico", "Redirect to the dashboard icon", "pages", "public", raw=True, errors=(), status=301,
           media=("text/plain",)),
        *chats_operations(Op),  # chats, contacts, a session's presence and own profile
        *groups_operations(Op),  # a session's groups and communities
        *channel_operations(Op),  # statuses and channels of a session
        *wuzapi_operations(Op),  # wuzapi's API under /wa
        *wuzapi_groups_operations(Op),
        *media_operations(Op),  # a message's medium
    ]


OPERATIONS: list[Op] = _ops()


def served(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path) of every route, `*` for a route of any method; HEAD twins of GET routes left out."""
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.method != "HEAD" and route.resource is not None}


def undocumented(app: web.Application) -> list[tuple[str, str]]:
    documented = {(op.method, op.path) for op in OPERATIONS}
    return sorted(served(app) - documented)


# Schemas of the reseller API share class names with the dashboard API's (UserUpdate, SessionSettings): their
# components are prefixed, so a name never stands for two shapes.
_AREA_PREFIX = {"wagate.schemas.tenants": "Internal", "wagate.schemas.customer": "Customer",
                "wagate.schemas.wuzapi": "Wuzapi", "wagate.schemas.wuzapi_groups": "Wuzapi",
                "wagate.schemas.simulator_groups": "SimulatedGroup"}


def _name(schema: type[Schema] | Schema) -> str:
    """A schema's component name; also apispec's resolver for nested schemas, so both name it alike."""
    cls = schema if isinstance(schema, type) else type(schema)
    return _AREA_PREFIX.get(cls.__module__, "") + cls.__name__.removesuffix("Schema")


def _envelope(op: Op) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "null"} if op.no_data else {}
    if op.data is not None:
        ref = {"$ref": f"#/components/schemas/{_name(op.data)}"}
        data = {"type": "array", "items": ref} if op.many else ref
        if op.maybe_none:
            data = {"oneOf": [data, {"type": "null"}]}
    envelope: dict[str, Any] = {"type": "object", "required": ["success", "message"], "properties": {
        "success": {"const": True}, "message": {"type": "string"}, "data": data}}
    if op.count:
        envelope["required"].append("count")
        envelope["properties"]["count"] = {"type": "integer", "minimum": 0}
    return envelope


def _path_schema(name: str) -> dict[str, Any]:
    if name == "session_id":
        return {"type": "string", "pattern": session_ids.PATTERN.pattern, "maxLength": session_ids.MAX_LENGTH}
    return {"type": "string"}


def _operation(op: Op) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if op.raw:  # `data` is the whole answer
        body: dict[str, Any] = {"$ref": f"#/components/schemas/{_name(op.data)}"} if op.data is not None else {}
        if op.many:
            body = {"type": "array", "items": body}
        responses[str(op.status)] = {"description": "Success",
                                     "content": {media: {"schema": body} for media in op.media}}
    else:
        responses[str(op.status)] = {"description": "Success",
                                     "content": {"application/json": {"schema": _envelope(op)}}}
    if op.path.startswith("/api/qr"):
        responses[str(op.status)]["content"]["image/png"] = {"schema": {"type": "string",
                                                                        "contentMediaType": "image/png"}}
    for status in op.also:
        responses[str(status)] = {**responses[str(op.status)], "description": "The same shape"}
    path_params = _PARAM.findall(op.path)
    # A session id in the path follows the one rule (wagate.session_ids): one that does not is a 400.
    for status in sorted({*op.errors, *((400,) if "session_id" in path_params else ())}):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    operation: dict[str, Any] = {
        "summary": op.summary, "tags": [op.tag], "responses": responses, "security": AUTH[op.auth],
        "parameters": [{"in": "path", "name": name, "required": True, "schema": _path_schema(name)}
                       for name in path_params],
    }
    if op.permission:
        operation["description"] = f"Needs the `{op.permission}` permission (RBAC matrix of WA-Gate v2)."
    if op.query is not None:
        operation["parameters"].append({"in": "query", "schema": op.query})
    if op.body is not None:
        content: dict[str, Any] = {"application/json": {"schema": op.body}}
        if op.multipart:
            content["multipart/form-data"] = {"schema": {"allOf": [
                {"$ref": f"#/components/schemas/{_name(op.body)}"},
                {"type": "object", "properties": {"file": {"type": "string", "contentMediaType":
                                                           "application/octet-stream"}}}]}}
        operation["requestBody"] = {"required": not op.optional_body, "content": content}
    return operation


def document(app: web.Application | None = None) -> dict[str, Any]:
    """The spec of the routes `app` serves (of every line in `OPERATIONS` when no app is given)."""
    spec = APISpec(title="WA-Gate", version=__version__, openapi_version="3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=_name)],
                   info={"description": "Self-hosted WhatsApp gateway. Answers are `{success, message, data}`; "
                                        "errors `{success: false, message, details}`."})
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    spec.components.schema("Error", {"type": "object", "required": ["success", "message"], "properties": {
        "success": {"const": False}, "message": {"type": "string"},
        "details": {"type": ["object", "null"], "description": "each field with its list of messages",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}}}}})
    for status, description in ERRORS.items():
        spec.components.response(f"E{status}", {"description": description, "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
    schemas = {s for op in OPERATIONS for s in (op.data, op.body) if s is not None}
    names: dict[str, type[Schema]] = {}
    for schema in schemas:
        if names.setdefault(_name(schema), schema) is not schema:
            raise ValueError(f"two schemas are both named {_name(schema)}: {schema} and {names[_name(schema)]}")
    for schema in sorted(schemas, key=_name):
        if _name(schema) not in spec.components.schemas:  # not already in as another schema's nested field
            spec.components.schema(_name(schema), schema=schema)
    live = served(app) if app is not None else None
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        if live is not None and (op.method, op.path) not in live:
            continue
        methods = ANY_METHODS if op.method == "*" else (op.method.lower(),)
        for method in methods:
            paths.setdefault(op.path, {})[method] = _operation(op)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    for schema in event_schemas():
        if _name(schema) not in spec.components.schemas:
            spec.components.schema(_name(schema), schema=schema)
    return {**spec.to_dict(), "webhooks": event_webhooks(_name)}
