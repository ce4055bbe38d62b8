"""Respondent tokens: random, shown once, stored only as keyed hashes (HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 18  # 144 bits: unguessable, and 24 URL-safe characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(key: bytes, token: str) -> bytes:
    """Without the key, a stolen table of hashes yields no token and cannot be brute-forced."""
    return hmac.new(key, token.encode(), hashlib.sha256).digest()


def device_hash(salt: bytes, fingerprint: str) -> str:
    """Salted, so the stored value reveals neither the fingerprint nor an address behind it."""
    return hmac.new(salt, fingerprint.encode(), hashlib.sha256).hexdigest()
