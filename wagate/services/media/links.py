"""Signed, expiring links to a message's medium: what a webhook carries so a receiver can fetch it without a key.

`sig` is an HMAC-SHA256 of "<message id>.<exp>" under a key derived from JWT_SECRET (never the secret itself),
compared in constant time; `exp` is a Unix time after which the link is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from wagate.config import Settings

MEDIA_PATH = "/api/media/{message_id}"
_PURPOSE = b"wagate media link v1"


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.jwt_secret.encode(), _PURPOSE, hashlib.sha256).digest()


def signature(settings: Settings, message_id: int, exp: int) -> str:
    return hmac.new(_key(settings), f"{message_id}.{exp}".encode(), hashlib.sha256).hexdigest()


def signed_url(settings: Settings, message_id: int, *, now: float | None = None) -> str:
    """The link, absolute under PUBLIC_URL when it is set (else a path on the gateway's own host)."""
    exp = int((now if now is not None else time.time()) + settings.media_url_ttl_s)
    base = (settings.public_url or "").rstrip("/")
    path = MEDIA_PATH.format(message_id=message_id)
    return f"{base}{path}?exp={exp}&sig={signature(settings, message_id, exp)}"


def valid(settings: Settings, message_id: int, exp: str | None, sig: str | None, *, now: float | None = None
          ) -> bool:
    """Whether `sig` signs this message and `exp`, and `exp` has not passed."""
    if not exp or not sig or not exp.isdigit():
        return False
    if int(exp) < (now if now is not None else time.time()):
        return False
    return hmac.compare_digest(signature(settings, message_id, int(exp)), sig)
