"""argon2id hashing for passwords and client secrets, off the event loop."""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


@lru_cache(maxsize=4)
def hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


class Passwords:
    """Hash and verify; verifying an unknown account costs the same as a real one (no user probing)."""

    def __init__(self, *, time_cost: int, memory_kib: int) -> None:
        self._params = (time_cost, memory_kib)
        self._hasher = hasher(time_cost, memory_kib)

    async def hash(self, secret: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, secret)

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        target = stored_hash or _dummy_hash(*self._params)
        try:
            ok = await asyncio.to_thread(self._hasher.verify, target, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)


def generate_secret() -> str:
    """A client secret or first-admin password: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)
