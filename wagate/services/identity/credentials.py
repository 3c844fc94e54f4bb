"""Secrets the gateway hands out or checks: passwords (bcrypt), API keys and tokens (SHA-256), comparisons.

Plaintext keys and tokens exist only in the response that creates them; the database keeps their SHA-256
hash (and, for keys, a short visible prefix so an operator can tell them apart).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import bcrypt

BCRYPT_ROUNDS = 12
API_KEY_PREFIX = "wag"


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # a malformed stored hash never matches
        return False


async def hash_password_async(password: str) -> str:
    """bcrypt takes ~0.25 s of CPU: keep it off the event loop."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(verify_password, password, password_hash)


def hash_token(token: str) -> str:
    """SHA-256 hex of an API key or token: the only form stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality, so a comparison never tells how many leading characters matched."""
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


@dataclass(frozen=True, slots=True)
class NewKey:
    plaintext: str = field(repr=False)
    prefix: str
    hash: str = field(repr=False)


def new_api_key() -> NewKey:
    """`wag_<8 visible chars>_<32 random chars>`: the visible part identifies the key in lists and logs."""
    visible = secrets.token_hex(4)
    plaintext = f"{API_KEY_PREFIX}_{visible}_{secrets.token_urlsafe(24)}"
    return NewKey(plaintext=plaintext, prefix=f"{API_KEY_PREFIX}_{visible}", hash=hash_token(plaintext))


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def new_password() -> str:
    """A generated password for a first admin: 20 characters from a URL-safe alphabet."""
    return secrets.token_urlsafe(15)
