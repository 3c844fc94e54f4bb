"""The media paths of the OpenAPI document (`wagate.web.routes.media`)."""

from __future__ import annotations

from typing import Any

# What a kept medium may be served as: the kinds `wagate.services.messaging.media` accepts.
SERVED_AS = ("image/*", "video/*", "audio/*", "application/pdf", "application/octet-stream",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             "application/vnd.openxmlformats-officedocument.presentationml.presentation", "text/plain", "text/csv",
             "application/json")


def media_operations(op: Any) -> list[Any]:
    return [
        op("GET", "/api/media/{message_id}",
           "A message's medium (sent or received): with a key of the message's tenant (view_logs), or the signed, "
           "expiring link (?exp=&sig=) a message.received webhook carries. 302 to the object store when it serves "
           "media itself (a public base URL or a presigned URL); 503 while the store does not answer. `?as=link` "
           "answers {success, message, data: {url, mimetype, file_name}}: a URL a browser can open without a key",
           "messages", "dashboard", raw=True, errors=(401, 403, 404, 409, 502, 503),
           media=SERVED_AS),
    ]
