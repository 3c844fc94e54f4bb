"""A link preview fetched at acceptance: the page's title, description and image, through the SSRF guard.

A link to a refused address (private, loopback, metadata) refuses the send, as a media URL does; a page that
cannot be fetched or read only leaves the preview without a title: the text still goes.
"""

from __future__ import annotations

import asyncio
import base64
import html
import re
from typing import Any
from urllib.parse import urljoin

from wagate.config import Settings
from wagate.errors import Invalid
from wagate.services.messaging import media_convert, media_fetch
from wagate.services.webhooks.ssrf import DestinationRefused, check_destination

_META = re.compile(rb"<meta\s+[^>]*>", re.I)
_ATTR = re.compile(rb"""([a-zA-Z:_-]+)\s*=\s*("([^"]*)"|'([^']*)')""")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
PAGE_BYTES = 512 * 1024  # the head of a page is enough for its meta tags


async def fetch_preview(url: str, settings: Settings) -> dict[str, Any]:
    """`{url, title, description, thumbnail}` of `url` (thumbnail: base64 JPEG); refused addresses raise `Invalid`."""
    try:
        await check_destination(url, allow_private=settings.webhook_allow_private)
    except DestinationRefused as exc:
        raise Invalid(f"link_preview: the link's address is refused: {exc.reason}",
                      {"link_preview": [exc.reason]}) from exc
    preview: dict[str, Any] = {"url": url}
    try:
        page = await media_fetch.fetch(url, settings, "link_preview")
    except Invalid:
        return preview  # the site is down or slow: the text goes without a preview
    found = page_meta(page.data[:PAGE_BYTES])
    preview |= {k: v for k, v in found.items() if k in ("title", "description") and v}
    image = found.get("image")
    if image:
        try:
            picture = await media_fetch.fetch(urljoin(url, image), settings, "link_preview")
            facts = await asyncio.to_thread(media_convert.image_facts, picture.data)
            if facts.thumbnail:
                preview["thumbnail"] = base64.b64encode(facts.thumbnail).decode()
        except (Invalid, OSError):
            pass  # no picture: the title and description still show
    return preview


def page_meta(head: bytes) -> dict[str, str]:
    """Open Graph title/description/image of an HTML page, falling back to <title> and the description meta."""
    found: dict[str, str] = {}
    for tag in _META.findall(head):
        attrs = {m.group(1).lower(): (m.group(3) if m.group(3) is not None else m.group(4)) for m in
                 _ATTR.finditer(tag)}
        name = (attrs.get(b"property") or attrs.get(b"name") or b"").lower()
        value = attrs.get(b"content")
        if value is None:
            continue
        text = html.unescape(value.decode("utf-8", errors="replace")).strip()
        for key, names in (("title", (b"og:title", b"twitter:title")),
                           ("description", (b"og:description", b"description", b"twitter:description")),
                           ("image", (b"og:image", b"twitter:image"))):
            if name in names and key not in found:
                found[key] = text
    if "title" not in found and (title := _TITLE.search(head)):
        found["title"] = html.unescape(title.group(1).decode("utf-8", errors="replace")).strip()
    return {k: v[:1024] for k, v in found.items()}
