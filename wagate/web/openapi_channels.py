"""The OpenAPI lines of a session's statuses and channels (wagate.web.routes.channels), added to
`openapi.OPERATIONS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wagate.schemas import channels as ch
from wagate.schemas import messages as msg

CALL_ERRORS = (400, 401, 403, 404, 409, 429, 502)  # 409: the session is not WORKING; 502: WhatsApp refused


def channel_operations(op: Callable[..., Any]) -> list[Any]:
    """The lines, made with `openapi.Op` (passed in: this module is imported by that one)."""
    base = "/api/sessions/{session_id}"
    return [
        op("GET", f"{base}/statuses", "Contacts' statuses (stories) the session received, newest first", "channels",
           permission="view_logs", query=ch.StatusQuerySchema, data=msg.MessageSchema, many=True,
           errors=(400, 401, 403, 404, 429)),
        op("POST", f"{base}/statuses", "Post a status: text (background_color, font), image or video (URL or data: "
           "URI); queued like a send, honours Idempotency-Key", "channels", permission="send_message",
           body=ch.StatusPostSchema, data=msg.MessageSchema, status=202, errors=(400, 401, 403, 404, 413, 415, 429)),
        op("GET", f"{base}/newsletters", "Channels the session follows or owns", "channels", permission="view_logs",
           data=ch.NewsletterSchema, many=True, errors=CALL_ERRORS),
        op("GET", f"{base}/newsletters/info", "One channel, by `jid` or by `invite` (link or code)", "channels",
           permission="view_logs", query=ch.NewsletterQuerySchema, data=ch.NewsletterSchema, errors=CALL_ERRORS),
        op("PUT", f"{base}/newsletters/{{jid}}/follow", "Follow a channel", "channels", permission="send_message",
           data=ch.FollowingSchema, errors=CALL_ERRORS),
        op("DELETE", f"{base}/newsletters/{{jid}}/follow", "Unfollow a channel", "channels",
           permission="send_message", data=ch.FollowingSchema, errors=CALL_ERRORS),
    ]
