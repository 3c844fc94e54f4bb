"""The `data` of answers that handlers build as plain dicts, named for the OpenAPI document.

These schemas are never used to load input: they say, field by field, what the handler puts in its answer, so
`/api/openapi.json` can state it and `tests/web/test_openapi_fuzz.py` can hold real answers to it. A field
marked `required` is in every answer; `allow_none` where the value may be null.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from wagate.schemas.auth import ApiKeySchema, UserSchema
from wagate.schemas.broadcasts import BroadcastSchema
from wagate.schemas.customer import ContactSchema
from wagate.schemas.customer import SessionSchema as CustomerSessionSchema
from wagate.schemas.customer import SettingsSchema as CustomerSettingsSchema
from wagate.schemas.messages import MessageSchema
from wagate.schemas.sessions import SessionSchema
from wagate.schemas.tenants import KeyInfoSchema
from wagate.schemas.tenants import UserSchema as TenantUserSchema
from wagate.services.broadcasts.progress import Progress

ANY: dict[str, Any] = {"metadata": {"description": "any JSON value"}}


def _int(**kwargs: Any) -> fields.Integer:
    return fields.Integer(required=True, **kwargs)


def _str(**kwargs: Any) -> fields.String:
    return fields.String(required=True, **kwargs)


def _page(name: str, items: type[Schema], *, key: str = "items", size: str = "limit",
          **more: fields.Field) -> type[Schema]:
    """A page of a list: its `key` of `items`, the total, the page number and its `size` field."""
    return Schema.from_dict({key: fields.List(fields.Nested(items), required=True), "total": _int(), "page": _int(),
                             size: _int(), **more}, name=name)


# auth, users, keys
class TokensSchema(Schema):
    access_token = _str()
    token_type = _str()
    expires_in = _int()
    # Always in the HttpOnly cookie; a browser login may leave it out of the body, so it is not required here.
    refresh_token = fields.String(metadata={"description": "also set in the HttpOnly cookie"})
    user = fields.Nested(UserSchema, required=True)


RevokedSchema = Schema.from_dict({"refresh_tokens_revoked": _int()}, name="RevokedSchema")


class MeSchema(Schema):
    kind = _str()
    role = _str()
    tenant_id = fields.Integer(required=True, allow_none=True)
    name = _str(allow_none=True)
    permissions = fields.List(fields.String(), required=True)
    user = fields.Nested(UserSchema, metadata={"description": "a dashboard login"})
    api_key_id = fields.Integer(allow_none=True, metadata={"description": "an API key"})


class CreatedKeySchema(ApiKeySchema):
    key = _str(metadata={"description": "the key itself, shown only in this answer"})


# messages
class BulkSendSchema(Schema):
    items = fields.List(fields.Nested(MessageSchema), required=True)
    count = _int()
    created = _int()


# sessions and WhatsApp
class CreatedSessionSchema(Schema):
    session = fields.Nested(SessionSchema, required=True)
    token = _str(metadata={"description": "the session's token, shown only in this answer"})
    start_job_id = fields.String(required=True, allow_none=True)


JobSchema = Schema.from_dict({"session": _str(), "job_id": _str(allow_none=True)}, name="JobSchema")
SessionTokenSchema = Schema.from_dict({"session": _str(), "token": _str()}, name="SessionTokenSchema")


# broadcasts
class RejectedRowSchema(Schema):
    line = _int()
    phone = fields.String(required=True, allow_none=True)
    reason = _str()


class DuplicateRowSchema(Schema):
    line = _int()
    phone = _str()
    first_line = _int()


class _ListReport(Schema):
    invalid = fields.List(fields.Nested(RejectedRowSchema), required=True)
    duplicates = fields.List(fields.Nested(DuplicateRowSchema), required=True)
    blank_lines = fields.List(fields.Integer(), required=True)


class BroadcastPreviewSchema(_ListReport):
    total = _int()
    samples = fields.List(fields.Dict(), required=True)
    variables = fields.List(fields.String(), required=True)


class CreatedBroadcastSchema(BroadcastSchema, _ListReport):
    pass


# Every counter of `Progress.as_dict`, named from it so the two cannot drift apart.
ProgressSchema = Schema.from_dict({name: _int() for name in Progress().as_dict()}, name="ProgressSchema")


class BroadcastViewSchema(BroadcastSchema):
    progress = fields.Nested(ProgressSchema, required=True)  # type: ignore[assignment]  # the live count


class _Page(Schema):
    total = _int()
    page = _int()
    limit = _int()
    pages = _int()


class BroadcastPageSchema(_Page):
    items = fields.List(fields.Nested(BroadcastSchema), required=True)


class RecipientSchema(Schema):
    position = _int()
    phone = _str()
    name = _str(allow_none=True)
    variables = fields.Dict(required=True)
    status = _str()
    message_id = fields.Integer(required=True, allow_none=True)
    error = _str(allow_none=True)
    sent_at = _str(allow_none=True)


class RecipientPageSchema(_Page):
    items = fields.List(fields.Nested(RecipientSchema), required=True)


# webhooks
class WebhookSchema(Schema):
    id = _int()
    tenant_id = fields.Integer(required=True, allow_none=True)
    session_id = _str(allow_none=True)
    url = _str()
    events = fields.Raw(required=True, metadata={"description": '"*" or a list of event names'})
    signature_scheme = _str()
    format = _str(metadata={"description": "the body it receives: wagate (the gateway's envelope) or wuzapi"})
    is_active = fields.Boolean(required=True)
    description = _str(allow_none=True)
    managed_by_session_settings = fields.Boolean(required=True)
    created_at = _str()
    updated_at = _str()


class CreatedWebhookSchema(WebhookSchema):
    secret = _str(metadata={"description": "the signing secret, shown only in this answer"})


SecretSchema = Schema.from_dict({"id": _int(), "secret": _str()}, name="SecretSchema")


class AttemptSchema(Schema):
    attempt = _int()
    status_code = fields.Integer(required=True, allow_none=True)
    duration_ms = fields.Integer(required=True, allow_none=True)
    error = _str(allow_none=True)
    at = _str()


class DeliverySchema(Schema):
    id = _int()
    webhook_id = _int()
    event_id = _str()
    event = _str()
    status = _str()
    attempts = _int()
    next_attempt_at = _str(allow_none=True)
    last_status_code = fields.Integer(required=True, allow_none=True)
    last_error = _str(allow_none=True)
    last_duration_ms = fields.Integer(required=True, allow_none=True)
    delivered_at = _str(allow_none=True)
    created_at = _str()


class DeliveryDetailSchema(DeliverySchema):
    payload = fields.Raw(required=True, **ANY)
    attempt_log = fields.List(fields.Nested(AttemptSchema), required=True)


DeliveryPageSchema = _page("DeliveryPageSchema", DeliverySchema, size="per_page")


CountSchema = Schema.from_dict({"count": _int()}, name="CountSchema")


# audit log
class AuditEntrySchema(Schema):
    id = _int()
    created_at = _str()
    actor_type = _str()
    actor_id = _str(allow_none=True)
    tenant_id = fields.Integer(required=True, allow_none=True)
    action = _str()
    target_type = _str(allow_none=True)
    target_id = _str(allow_none=True)
    ip = _str(allow_none=True)
    request_id = _str(allow_none=True)
    details = fields.Raw(required=True, allow_none=True, **ANY)
    result = _str()


AuditPageSchema = _page("AuditPageSchema", AuditEntrySchema)


# service info and health (no envelope)
ServiceInfoSchema = Schema.from_dict({"success": fields.Boolean(required=True), "service": _str(),
                                      "version": _str()}, name="ServiceInfoSchema")
LivenessSchema = Schema.from_dict({"status": _str(), "version": _str()}, name="LivenessSchema")


class HealthSchema(Schema):
    """`GET /api/health`, 200 or 503 alike; `message` names what is down (503 only)."""

    status = _str()
    timestamp = _str()
    services = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    metrics = fields.Dict(required=True)
    sessions = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    whatsapp = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, allow_none=True, metadata={
        "description": "sessions that should run, driven by a live bridge, orphaned (driven by none), connected; "
                       "live bridges. null while the database or Redis does not answer"})
    down = fields.List(fields.String(), required=True)
    stalls = fields.List(fields.Dict(), required=True, metadata={
        "description": "what the watchdogs found late lately and recovered: senders with overdue messages, webhook "
                       "deliveries past their due time; [] when none (any entry makes the status degraded)"})
    media_store = fields.Dict(required=True, allow_none=True, metadata={
        "description": "the media store: store (local | s3), status (ok | down: degraded, sends with media wait and "
                       "received media are kept locally), waiting (media kept locally until the store takes them), "
                       "reason"})
    exports = fields.List(fields.Dict(), required=True, metadata={
        "description": "event exports: id, up (null until reported), down_for_s, waiting (events not yet confirmed), "
                       "lag_s (age of the oldest); a broker down past a minute makes the status degraded"})
    message = fields.String()


# the simulated phone: each action is a bridge job (one per shard for not-on-whatsapp); `done` once it was played
SimulatorJobSchema = Schema.from_dict({"job_id": _str(), "done": fields.Boolean(required=True)},
                                      name="SimulatorJobSchema")
SimulatorJobsSchema = Schema.from_dict({"job_ids": fields.List(fields.String(), required=True)},
                                       name="SimulatorJobsSchema")


# the reseller (/internal), customer (/v1) and session-token (/wa) APIs answer without the envelope
class InternalMeSchema(Schema):
    auth = fields.Dict(required=True, metadata={"description": '{"mode": "scoped" | "global", "source_service"}'})


InternalUserPageSchema = _page("InternalUserPageSchema", TenantUserSchema, key="users", source=_str(allow_none=True))


class InternalUpsertSchema(Schema):
    """`POST /internal/users`: the plaintext `api_key` and its `key` info only when the customer was created."""

    created = fields.Boolean(required=True)
    user = fields.Nested(TenantUserSchema, required=True)
    api_key = fields.String(metadata={"description": "the customer's API key, shown only in this answer"})
    key = fields.Nested(KeyInfoSchema, allow_none=True)


InternalUserAnswerSchema = Schema.from_dict({"user": fields.Nested(TenantUserSchema, required=True)},
                                            name="InternalUserAnswerSchema")


class InternalKeySchema(Schema):
    """A customer's API key info; `api_key` (the new key itself) only in the rotate answer."""

    user_id = _str()
    source = _str()
    key = fields.Nested(KeyInfoSchema, required=True, allow_none=True)
    api_key = fields.String()


class WaStatusSessionSchema(CustomerSessionSchema):
    connection_status = _str()
    is_active = fields.Boolean(required=True)


WaStatusSchema = Schema.from_dict({"session": fields.Nested(WaStatusSessionSchema, required=True)},
                                  name="WaStatusSchema")


class CustomerMeSchema(Schema):
    user = fields.Dict(required=True)
    subscription = fields.Dict(required=True)


class CustomerSessionListSchema(Schema):
    sessions = fields.List(fields.Nested(CustomerSessionSchema), required=True)
    count = _int()


class CustomerSessionTokenSchema(CustomerSessionSchema):
    session_token = fields.String(metadata={"description": "the /wa token again (genfity-wa-support's name), "
                                                           "only when the session is created"})


class CustomerSessionAnswerSchema(Schema):
    """A customer's created or changed session; the token only on create, start_job_id when a start was queued."""

    session = fields.Nested(CustomerSessionTokenSchema, required=True)
    token = fields.String(metadata={"description": "the session's /wa token, shown only when it is created"})
    start_job_id = fields.String(allow_none=True)


CustomerDeletedSchema = Schema.from_dict({"deleted": fields.Boolean(required=True), "session_id": _str(),
                                          "job_id": _str(allow_none=True)}, name="CustomerDeletedSchema")
ContactSyncSchema = Schema.from_dict({"synced": _int(metadata={"description": "contacts stored after the sync"}),
                                     "sync": fields.Dict(required=True)}, name="ContactSyncSchema")


class SessionQrSchema(Schema):
    """`GET /wa/qr`: `qr` is null when no code is waiting to be scanned."""

    session_id = _str()
    status = _str()
    qr = _str(allow_none=True)
    expires_at = _str(allow_none=True)


class CredentialsQrSchema(Schema):
    """`GET /sessions/{id}/qr` (seed 004's names): `qr` and `expiresAt` are null when no code is waiting."""

    sessionId = _str()  # noqa: N815
    qr = _str(allow_none=True)
    expiresAt = _str(allow_none=True)  # noqa: N815
    status = _str()
    connectionStatus = _str()  # noqa: N815


class RegistryEntrySchema(Schema):
    """One session of the device registry file (seed 000): `apiKey` is the session token again, as there."""

    token = _str()
    apiKey = _str()  # noqa: N815
    sessionId = _str()  # noqa: N815
    createdAt = _str()  # noqa: N815


class CustomerSettingsAnswerSchema(Schema):
    """The settings, and at the top level the names genfity-wa-support's clients read."""

    session_id = _str()
    webhook_url = _str(allow_none=True)
    message_stat_sent = _int()
    message_stat_failed = _int()
    message = fields.String(metadata={"description": '"settings updated" (on PUT)'})
    settings = fields.Nested(CustomerSettingsSchema, required=True)


MessageListSchema = _page("MessageListSchema", MessageSchema, key="messages")


class ContactListSchema(Schema):
    contacts = fields.List(fields.Nested(ContactSchema), required=True)
    count = _int()
    sync = fields.Dict(required=True, allow_none=True)


class QueuedMessageSchema(Schema):
    message = fields.Nested(MessageSchema, required=True)
    created = fields.Boolean(required=True)
