"""wuzapi's answers and the guard every wuzapi route shares: session token, subscription, rate limit, error shape.

An answer is `{"code": 200, "data": {…}, "success": true}`; an error `{"code": 4xx, "error": "…", "success": false}`
as wuzapi's `Respond` writes it, with the gateway's own `message` and `details` beside (one body both kinds of
client read: wuzapi's read `error`, the gateway's `message`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from marshmallow import ValidationError

from wagate.errors import Invalid, WAGateError
from wagate.web.auth import principal, rate_limited, require_session_token
from wagate.web.error_details import field_messages
from wagate.web.limits import Handler

NOT_SERVED = 501


def answer(data: Any, code: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"code": code, "data": data, "success": True}, status=code, headers=headers)


def failure(code: int, error: str, details: Any = None, headers: Any = None) -> web.Response:
    """`details` in the gateway's one shape (field → list of messages), as every other route gives it."""
    return web.json_response({"code": code, "error": error, "success": False, "message": error,
                              "details": field_messages(details)}, status=code, headers=headers)


def not_served(what: str, why: str) -> Handler:
    """A route whose capability the gateway lacks: 501 naming it, after the same authentication as the others."""

    async def handler(request: web.Request) -> web.Response:
        return failure(NOT_SERVED, f"{what} is not served by this gateway: {why}", {"capability": what})

    handler.__doc__ = f"Not served: {what} ({why})."
    return wuzapi_route()(handler)


def _reshaped(response: web.StreamResponse) -> web.StreamResponse:
    """An auth or limit refusal, written in the gateway's shape before the handler ran, in wuzapi's shape too."""
    if response.status < 400 or not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    try:
        body = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(body, dict) or "code" in body:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
    return failure(response.status, str(body.get("message", response.reason)), body.get("details"), headers)


def wuzapi_route(*, limit: str | None = None) -> Callable[[Handler], Handler]:
    """Guard a wuzapi route: the session token (`token` header, Bearer, `?token=`) of a session whose subscription
    is live, the per-session limit (and `limit`, e.g. "send"), domain errors answered in wuzapi's shape."""

    def decorate(handler: Handler) -> Handler:
        inner = rate_limited(limit)(handler) if limit else handler

        @functools.wraps(handler)
        async def shaped(request: web.Request) -> web.StreamResponse:
            try:
                return await inner(request)
            except WAGateError as exc:
                return failure(exc.status, exc.message, exc.details)
            except ValidationError as exc:
                return failure(400, "Invalid request", exc.messages)

        guarded = require_session_token()(shaped)

        @functools.wraps(handler)
        async def wrapper(request: web.Request) -> web.StreamResponse:
            return _reshaped(await guarded(request))

        return wrapper

    return decorate


def session_id(request: web.Request) -> str:
    found = principal(request).session_id
    assert found is not None  # require_session_token sets it
    return found


async def payload(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object of a request, keys in lower case, as wuzapi decodes it ("Could not decode Payload"
    otherwise); `optional`: no body at all reads as `{}`."""
    if not request.body_exists:
        if optional:
            return {}
        raise Invalid("Could not decode Payload", {"_schema": ["expects a JSON object"]})
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("Could not decode Payload", {"_schema": [f"not JSON: {exc}"]}) from exc
    if not isinstance(data, dict):
        raise Invalid("Could not decode Payload", {"_schema": ["expects a JSON object"]})
    # wuzapi decodes with Go's encoding/json, which matches field names whatever their case ("webhookURL" fills
    # `webhookurl`, "phone" fills `Phone`): fields are looked up by their lower-case name.
    return {str(key).lower(): value for key, value in data.items()}


def field(data: dict[str, Any], name: str, default: Any = None) -> Any:
    return data.get(name.lower(), default)


def text_field(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field by wuzapi's name; missing is "Missing <name> in Payload", as wuzapi says it."""
    value = field(data, name)
    if value is None or value == "":
        if required:
            raise Invalid(f"Missing {name} in Payload", {name: ["is required"]})
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be a string", {name: ["expects a string"]})
    return value
