"""The one module that touches python-jose: sign and verify JWTs with a pinned asymmetric algorithm.

Swapping the JWT library means rewriting this file only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from base64 import urlsafe_b64encode
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from jose import jwk, jws, jwt
from jose.backends.base import Key
from jose.exceptions import JOSEError

ALLOWED_ALGORITHMS = frozenset({"ES256", "RS256"})
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")


class TokenError(Exception):
    """A token that must be refused; the message is for logs, never for the client."""


def _b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_or_public_pem: str, algorithm: str) -> dict[str, Any]:
    """Public JWK of a PEM key, with an RFC 7638 thumbprint as ``kid``."""
    key = jwk.construct(private_or_public_pem, algorithm)
    public = key.public_key() if hasattr(key, "public_key") else key
    data = {k: v for k, v in public.to_dict().items() if k in {"kty", "crv", "x", "y", "n", "e"}}
    members = {k: data[k] for k in (("crv", "kty", "x", "y") if data["kty"] == "EC" else ("e", "kty", "n"))}
    thumbprint = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    return {**data, "alg": algorithm, "use": "sig", "kid": _b64(thumbprint)}


def sign(claims: dict[str, Any], private_pem: str, *, algorithm: str, kid: str) -> str:
    if algorithm not in ALLOWED_ALGORITHMS:
        raise ValueError(f"unsupported algorithm {algorithm}")
    token: str = jwt.encode(claims, private_pem, algorithm=algorithm, headers={"kid": kid})
    return token


def unverified_header_value(token: str, name: str) -> Any:
    """One header field (e.g. ``kid``) of a token whose signature is NOT checked: for routing only."""
    try:
        return jws.get_unverified_header(token).get(name)
    except JOSEError:
        return None


def unverified_claim(token: str, name: str) -> Any:
    """One claim (e.g. ``iss``) read without verifying: only to pick the verifier that will check it."""
    try:
        claims = jwt.get_unverified_claims(token)
    except JOSEError:
        return None
    return claims.get(name) if isinstance(claims, dict) else None


class KeySet:
    """A JWKS read from a URL or a file, cached; an unknown ``kid`` triggers one rate-limited refresh."""

    REFRESH_MIN_INTERVAL = 30.0

    def __init__(
        self,
        *,
        url: str | None = None,
        path: Path | None = None,
        keys: list[dict[str, Any]] | None = None,
        loader: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None,
        cache_seconds: int = 300,
    ) -> None:
        if not (url or path or loader or keys is not None):
            raise ValueError("a JWKS url, file, loader or key list is required")
        self._url, self._path, self._loader, self._cache_seconds = url, path, loader, cache_seconds
        self._keys: dict[str, dict[str, Any]] = {}
        # (kid, algorithm) -> key object built from its JWK once per refresh that changes it
        # (building an EC key from a JWK costs ~150 us, more than checking a signature).
        self._parsed: dict[tuple[str, str], Key] = {}
        self._replace(keys or [])
        self._loaded_at = time.monotonic() if keys is not None else 0.0
        self._static = keys is not None
        self._lock = asyncio.Lock()

    def _replace(self, keys: list[dict[str, Any]]) -> None:
        """Take a new key list; an unchanged JWK keeps its parsed key object (and so cached tokens)."""
        fresh = {k["kid"]: k for k in keys if isinstance(k.get("kid"), str)}
        self._parsed = {
            (kid, alg): key
            for (kid, alg), key in self._parsed.items()
            if kid in fresh and fresh[kid] == self._keys[kid]
        }
        self._keys = fresh

    async def _load(self) -> None:
        if self._loader is not None:
            document: dict[str, Any] = {"keys": await self._loader()}
        elif self._url:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                document = response.json()
        else:
            assert self._path is not None
            document = json.loads(await asyncio.to_thread(self._path.read_text))
        self._replace([k for k in document.get("keys", []) if isinstance(k, dict)])
        self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        """Forget the cached keys: the next lookup reloads (the gateway calls it after a rotation)."""
        if not self._static:
            self._loaded_at = 0.0

    def fresh(self) -> bool:
        """True while the cached keys are younger than the cache time (no refresh due)."""
        return self._static or time.monotonic() - self._loaded_at < self._cache_seconds

    def parsed(self, kid: str, algorithm: str) -> Key | None:
        """The key object for ``kid`` as of the last refresh, without any I/O; None when the key is
        unknown, not EC/RSA, or declares another algorithm."""
        key = self._parsed.get((kid, algorithm))
        if key is not None:
            return key
        entry = self._keys.get(kid)
        if entry is None or entry.get("kty") not in {"EC", "RSA"} or entry.get("alg", algorithm) != algorithm:
            return None
        try:
            key = jwk.construct(entry, algorithm)
        except (JOSEError, ValueError, TypeError):
            return None
        self._parsed[(kid, algorithm)] = key
        return key

    async def get(self, kid: str) -> dict[str, Any] | None:
        age = time.monotonic() - self._loaded_at
        if self._static or (kid in self._keys and age < self._cache_seconds):
            return self._keys.get(kid)
        async with self._lock:
            age = time.monotonic() - self._loaded_at
            stale = age >= self._cache_seconds
            unknown_and_may_refresh = kid not in self._keys and age >= self.REFRESH_MIN_INTERVAL
            if stale or unknown_and_may_refresh or not self._loaded_at:
                try:
                    await self._load()
                except (OSError, ValueError, httpx.HTTPError) as exc:
                    if not self._keys:
                        raise TokenError(f"key set unavailable: {exc}") from exc
        return self._keys.get(kid)


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: dict[str, Any]
    kid: str
    key: Key  # the key object that checked the signature: a refresh that drops or changes it ends the entry
    until: float  # wall clock (like exp): the earlier of exp and the cache bound


class VerifiedTokens:
    """Tokens whose signature and claims were checked, by SHA-256 of the token, each until the
    earlier of its ``exp`` and ``max_seconds`` from the check. Only successes are stored; at most
    ``max_entries`` (oldest dropped first)."""

    def __init__(self, *, max_seconds: float, max_entries: int) -> None:
        self.max_seconds, self.max_entries = max_seconds, max_entries
        self._entries: dict[bytes, _Verified] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes, now: float) -> _Verified | None:
        entry = self._entries.get(digest)
        if entry is not None and entry.until <= now:
            del self._entries[digest]
            return None
        return entry

    def put(self, digest: bytes, entry: _Verified) -> None:
        if self.max_seconds <= 0 or self.max_entries <= 0:
            return
        self._entries.pop(digest, None)
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[digest] = entry


class TokenVerifier:
    """Verifies bearer tokens; a token verified once is served from memory until the earlier of its
    ``exp`` and ``cache_seconds`` (0 turns the cache off)."""

    def __init__(
        self,
        keys: KeySet,
        *,
        algorithm: str,
        issuer: str,
        audience: str,
        cache_seconds: float = 30.0,
        cache_entries: int = 10_000,
    ) -> None:
        if algorithm not in ALLOWED_ALGORITHMS:
            raise ValueError(f"unsupported algorithm {algorithm}")
        self._keys, self._algorithm = keys, algorithm
        self._issuer, self._audience = issuer, audience
        self.verified = VerifiedTokens(max_seconds=cache_seconds, max_entries=cache_entries)

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims (a fresh dict the caller may keep); TokenError when it must be refused."""
        digest = hashlib.sha256(token.encode()).digest()
        now = time.time()
        cached = self.verified.get(digest, now)
        # A stale key set goes the long way, which refreshes it: a withdrawn key is noticed in time.
        if cached is not None and self._keys.fresh() and self._keys.parsed(cached.kid, self._algorithm) is cached.key:
            return dict(cached.claims)
        claims, key, kid = await self._verify(token)
        exp = claims.get("exp")
        if isinstance(exp, int | float):
            until = min(float(exp), now + self.verified.max_seconds)
            self.verified.put(digest, _Verified(dict(claims), kid, key, until))
        return claims

    async def _verify(self, token: str) -> tuple[dict[str, Any], Key, str]:
        try:
            header = jws.get_unverified_header(token)
        except JOSEError as exc:
            raise TokenError("malformed token") from exc
        # The algorithm is pinned: a token naming another one (none, HS256, ...) is refused
        # before any key is touched.
        if header.get("alg") != self._algorithm:
            raise TokenError(f"algorithm {header.get('alg')!r} not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise TokenError("token has no kid")
        entry = await self._keys.get(kid)
        key = self._keys.parsed(kid, self._algorithm) if entry is not None else None
        if key is None:
            raise TokenError("unknown kid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={f"require_{c}": True for c in REQUIRED_CLAIMS},
            )
        except JOSEError as exc:
            raise TokenError(str(exc)) from exc
        return claims, key, kid
