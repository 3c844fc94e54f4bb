"""The proxy a session connects to WhatsApp through (`proxy_url`: http://, https:// or socks5://, with credentials).

The URL is a secret (it carries the proxy's user and password): it is stored encrypted with ENCRYPTION_KEY, as
webhook secrets are (`services.webhooks.secrets_box`), decrypted only by the bridge that connects the session,
and shown and audited only redacted. Changing it while the session runs restarts the session, so the new proxy is
used at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from arq.connections import ArqRedis

from wagate.config import Settings
from wagate.db.enums import SessionStatus
from wagate.errors import Invalid
from wagate.services.operations import audit
from wagate.services.sessions import lifecycle
from wagate.services.sessions.lifecycle import Actor, Sessions
from wagate.services.webhooks import secrets_box

SCHEMES = ("http", "https", "socks5")
PROXY_RULE = "expects http://, https:// or socks5:// with a host and a port, e.g. socks5://user:pass@10.0.0.5:1080"
URL_MAX = 512  # the encrypted token grows to about twice this; wa_sessions.proxy_url_encrypted holds 1024
RUNNING = (SessionStatus.STARTING, SessionStatus.SCAN_QR_CODE, SessionStatus.WORKING)


def check_url(value: Any) -> str | None:
    """The proxy URL as given, or None for none; `Invalid` (naming `proxy_url`) when it cannot be dialled."""
    if value is None or value == "":
        return None
    problem = _problem(value)
    if problem:
        raise Invalid("Invalid proxy_url", {"proxy_url": [problem]})
    return str(value)


def _problem(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > URL_MAX:
        return f"{PROXY_RULE} (at most {URL_MAX} characters)"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return PROXY_RULE
    if parts.scheme not in SCHEMES or not parts.hostname or port is None:
        return PROXY_RULE
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "a proxy URL has no path, query or fragment: scheme://[user:password@]host:port"
    return None


def redacted(url: str | None) -> str | None:
    """Scheme, host and port; credentials become `***` (a user name of a proxy service often is a token too)."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{'***@' if '@' in parts.netloc else ''}{host}"


def encrypt(settings: Settings, url: str | None) -> str | None:
    return None if url is None else secrets_box.encrypt(settings.encryption_key, url)


def url_of(settings: Settings, encrypted: str | None) -> str | None:
    """The session's proxy URL in clear, for the bridge; `secrets_box.SecretUnreadable` after a key change."""
    return None if encrypted is None else secrets_box.decrypt(settings.encryption_key, encrypted)


async def set_proxy(db: Sessions, redis: ArqRedis, settings: Settings, session_id: str, value: Any, *,
                    tenant_id: int | None, actor: Actor) -> str | None:
    """Store (or clear, with None) the session's proxy; a running session restarts through it. The redacted URL."""
    url = check_url(value)
    async with db() as s, s.begin():
        row = await lifecycle._owned(s, session_id, tenant_id)
        row.proxy_url_encrypted = encrypt(settings, url)
        # The redacted form beside it, in clear, so that showing a session needs no key.
        row.settings = {**(row.settings or {}), "proxy_url": redacted(url)}
        audit.record(s, actor_type=actor.type, actor_id=actor.id, ip=actor.ip, action="session.proxy",
                     target_type="session", target_id=session_id, tenant_id=row.tenant_id,
                     details={"proxy_url": redacted(url)})
        running = row.status in RUNNING
    if running:
        await lifecycle.request(db, redis, settings, session_id, "restart", tenant_id=tenant_id, actor=actor)
    return redacted(url)
