"""Hands a session's proxy to the transport before it connects; a proxy URL the current key cannot decrypt fails
the session with a reason that says what to do, rather than connecting without the proxy."""

from __future__ import annotations

from wagate.config import Settings
from wagate.db.models_whatsapp import WaSession
from wagate.services.sessions import proxy
from wagate.services.webhooks.secrets_box import SecretUnreadable
from wagate.transport.base import WhatsAppTransport

UNREADABLE = "proxy_url cannot be decrypted with the current ENCRYPTION_KEY: set the session's proxy_url again"


async def apply(settings: Settings, transport: WhatsAppTransport, row: WaSession) -> str | None:
    """None once the transport has the session's proxy (or none); otherwise why the session cannot connect."""
    try:
        url = proxy.url_of(settings, row.proxy_url_encrypted)
    except SecretUnreadable:
        return UNREADABLE
    await transport.use_proxy(row.id, url)
    return None
