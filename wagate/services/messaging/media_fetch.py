"""Media a send names by URL (wuzapi's `"Image": "https://…"`): fetched once, at acceptance, then handled as an
upload (sniffed, checked, stored) so the queued send holds its bytes and a retry never fetches again.

The fetch is held to the webhooks' outbound rules: http(s) only, every resolved address checked against private
and metadata ranges unless WEBHOOK_ALLOW_PRIVATE, the connection pinned to a checked address, no more than the
upload limit read, and a short timeout.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiohttp

from wagate.config import Settings
from wagate.errors import Invalid
from wagate.services.webhooks.ssrf import DestinationRefused, GuardedResolver, check_url

FETCH_TIMEOUT_S = 20.0
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    data: bytes
    file_name: str | None
    mimetype: str | None


def from_data_uri(value: str, field: str) -> FetchedMedia:
    """`data:<mime>;base64,<data>`, as wuzapi's clients embed files."""
    head, comma, body = value.partition(",")
    if not comma or not head.startswith("data:"):
        raise Invalid(f"{field} must be a data URI (data:<type>;base64,...) or an http(s) URL", {field: ["bad form"]})
    mimetype = head[5:].split(";")[0] or None
    try:
        data = base64.b64decode(body, validate=True) if head.endswith(";base64") else unquote(body).encode()
    except (binascii.Error, ValueError) as exc:
        raise Invalid("Could not decode base64 encoded data from payload", {field: [str(exc)]}) from exc
    if not data:
        raise Invalid(f"{field} is empty", {field: ["holds no data"]})
    return FetchedMedia(data, None, mimetype)


async def fetch(url: str, settings: Settings, field: str) -> FetchedMedia:
    """The bytes at `url`, or `Invalid` naming what went wrong (refused host, HTTP error, too large, timeout)."""
    allow_private = settings.webhook_allow_private
    limit = settings.max_upload_bytes
    try:
        check_url(url, allow_private=allow_private)
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(allow_private=allow_private))
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client, \
                client.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise Invalid(f"{field} URL answered HTTP {response.status}", {field: ["could not be fetched"]})
            if (response.content_length or 0) > limit:
                raise Invalid(f"{field} is larger than the {limit} byte limit", {field: ["too large"]})
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise Invalid(f"{field} is larger than the {limit} byte limit", {field: ["too large"]})
                chunks.append(chunk)
            mimetype = response.content_type if response.content_type != "application/octet-stream" else None
    except DestinationRefused as exc:
        raise Invalid(f"{field} URL refused: {exc.reason}", {field: [exc.reason]}) from exc
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise Invalid(f"{field} URL could not be fetched: {type(exc).__name__}", {field: [str(exc)[:200]]}) from exc
    name = urlsplit(url).path.rsplit("/", 1)[-1] or None
    return FetchedMedia(b"".join(chunks), unquote(name) if name else None, mimetype)


async def media_of(value: str, settings: Settings, field: str) -> FetchedMedia:
    """A wuzapi media field: a data URI, or an http(s) URL fetched."""
    if value.startswith("data:"):
        return from_data_uri(value, field)
    if value.startswith(("http://", "https://")):
        return await fetch(value, settings, field)
    raise Invalid(f"{field} data should start with \"data:\" (a base64 data URI) or be an http(s) URL",
                  {field: ["expects a data URI or a URL"]})
