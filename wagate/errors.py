"""The gateway's domain errors, each mapped by the web layer to one HTTP status.

    WAGateError                 500  something the caller cannot fix
    ├── Invalid                 400  bad input; `details` names the fields
    │   ├── Unprocessable       422  well-formed input the current state cannot accept
    │   └── UnsupportedMediaType 415  an upload whose sniffed content is not an allowed kind
    ├── Unauthorized            401  missing or wrong credentials
    ├── Forbidden               403  authenticated, but not allowed (role, tenant, subscription)
    ├── NotFound                404
    │   └── OtherTenant         404  another tenant's resource: answered as missing, logged and audited as denied
    ├── Conflict                409  duplicate or state clash
    ├── PayloadTooLarge         413
    ├── RateLimited             429  carries `retry_after` seconds
    ├── ServiceUnavailable      503  a dependency (database, Redis) is down
    └── TransportError          502  WhatsApp refused or failed; `permanent` says whether a retry can help
        ├── RecipientNotOnWhatsApp   permanent
        ├── InvalidRecipient         permanent
        ├── MessageUnsendable        permanent: the message itself is broken (its media file is gone …)
        ├── SendLimited              not permanent: WhatsApp refuses this session's sends for a while (463, 429)
        └── SessionNotConnected      permanent for a send: the session must be linked again first

Services raise these; no service knows about HTTP.
"""

from __future__ import annotations

from typing import Any


class WAGateError(Exception):
    """Base of every error the gateway raises on purpose."""

    status = 500
    default_message = "Internal server error"

    def __init__(self, message: str | None = None, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class Invalid(WAGateError):
    status = 400
    default_message = "Invalid request"


class Unprocessable(Invalid):
    status = 422
    default_message = "Request cannot be processed"


class UnsupportedMediaType(Invalid):
    status = 415
    default_message = "Unsupported media type"


class Unauthorized(WAGateError):
    status = 401
    default_message = "Unauthorized"


class Forbidden(WAGateError):
    status = 403
    default_message = "Forbidden"


class NotFound(WAGateError):
    status = 404
    default_message = "Not found"


class OtherTenant(NotFound):
    """Another tenant's resource, asked for by a tenant-bound caller. Answered exactly like a missing one, so a
    tenant cannot learn which ids another tenant has; the web layer still logs and audits it as a denied access."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # for the security log and the audit row, never for the answer


class Conflict(WAGateError):
    status = 409
    default_message = "Conflict"


class PayloadTooLarge(WAGateError):
    status = 413
    default_message = "Payload too large"


def too_large_message(limit_mb: int) -> str:
    """The one message of a body or file over the upload limit, on every route."""
    return f"The request is larger than the {limit_mb} MB limit (MAX_UPLOAD_MB)"


class RateLimited(WAGateError):
    status = 429
    default_message = "Too many requests"

    def __init__(self, message: str | None = None, details: Any = None, retry_after: int = 1) -> None:
        super().__init__(message, details)
        self.retry_after = retry_after


class ServiceUnavailable(WAGateError):
    status = 503
    default_message = "Service unavailable"


class TransportError(WAGateError):
    """WhatsApp (or the transport standing in for it) could not do what was asked."""

    status = 502
    default_message = "WhatsApp transport error"
    permanent = False


class RecipientNotOnWhatsApp(TransportError):
    default_message = "The number is not on WhatsApp"
    permanent = True


class InvalidRecipient(TransportError):
    default_message = "Invalid recipient"
    permanent = True


class MessageUnsendable(TransportError):
    default_message = "The message cannot be sent"
    permanent = True


class SendLimited(TransportError):
    """WhatsApp refused the send for a while (463 "reachout timelock", 429 "rate-overlimit"): nothing left, and
    the session's sends to new contacts wait out `retry_after_s` (None: WhatsApp gave no time)."""

    default_message = "WhatsApp limits this session's sends for now"

    def __init__(self, message: str | None = None, *, code: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after_s = retry_after_s


class SendOutcomeUnknown(TransportError):
    """The send may or may not have reached WhatsApp (no answer came back); sending again could show it twice."""

    default_message = "WhatsApp did not say whether it has the message"
    permanent = True


class SessionNotConnected(TransportError):
    default_message = "The WhatsApp session is not connected"
    permanent = True
