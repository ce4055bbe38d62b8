"""Respondent tokens: random, shown once, stored only as keyed hashes (HMAC-SHA256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import zlib

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_BYTES = 18  # 144 bits: unguessable, and 24 URL-safe characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(key: bytes, token: str) -> bytes:
    """Without the key, a stolen table of hashes yields no token and cannot be brute-forced."""
    return hmac.new(key, token.encode(), hashlib.sha256).digest()


def device_hash(salt: bytes, fingerprint: str) -> str:
    """Salted, so the stored value reveals neither the fingerprint nor an address behind it."""
    return hmac.new(salt, fingerprint.encode(), hashlib.sha256).hexdigest()


# A token batch created with an Idempotency-Key keeps a copy for replays that only the key opens:
# the database holds a digest of the key and the CSV sealed with a key derived from it, so neither
# the database nor the service's own secrets yield the tokens. Hence a long (random) key.
MIN_REPLAY_KEY_LENGTH = 32
_REPLAY_INFO = b"govperf survey token batch replay v1"


def replay_key_digest(idempotency_key: str) -> str:
    """What the idempotency table stores instead of the key."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def _replay_cipher(idempotency_key: str) -> AESGCM:
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=_REPLAY_INFO).derive(idempotency_key.encode())
    return AESGCM(derived)


def seal_batch(idempotency_key: str, csv_text: str) -> str:
    """The batch's CSV, compressed and sealed (AES-256-GCM, bound to the key's digest)."""
    nonce = secrets.token_bytes(12)
    sealed = _replay_cipher(idempotency_key).encrypt(
        nonce, zlib.compress(csv_text.encode()), replay_key_digest(idempotency_key).encode()
    )
    return base64.b64encode(nonce + sealed).decode()


def open_batch(idempotency_key: str, sealed_text: str) -> str:
    """The CSV sealed by ``seal_batch`` with the same key (InvalidTag otherwise)."""
    raw = base64.b64decode(sealed_text)
    plain = _replay_cipher(idempotency_key).decrypt(raw[:12], raw[12:], replay_key_digest(idempotency_key).encode())
    return zlib.decompress(plain).decode()
