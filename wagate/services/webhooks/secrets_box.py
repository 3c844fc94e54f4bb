"""Webhook secrets at rest: Fernet tokens keyed by ENCRYPTION_KEY; the plaintext leaves only in one response.

A secret is what a receiver uses to check `X-WAGate-Signature` (or `Signature`), so unlike API keys it must be
readable again by the worker: it is encrypted, not hashed. Rotating ENCRYPTION_KEY makes stored secrets
unreadable; rotate each webhook's secret after changing it.
"""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet, InvalidToken

SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret


class SecretUnreadable(Exception):
    """A stored secret was encrypted with another ENCRYPTION_KEY (or is corrupt)."""


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, url-safe, recognisable by its prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def encrypt(encryption_key: str, secret: str) -> str:
    return Fernet(encryption_key.encode()).encrypt(secret.encode()).decode()


def decrypt(encryption_key: str, token: str) -> str:
    try:
        return Fernet(encryption_key.encode()).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("the webhook secret cannot be decrypted with the current ENCRYPTION_KEY") from exc
