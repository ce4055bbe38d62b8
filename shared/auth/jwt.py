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
from pathlib import Path
from typing import Any

import httpx
from jose import jwk, jws, jwt
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
        self._keys: dict[str, dict[str, Any]] = {k["kid"]: k for k in keys or []}
        self._loaded_at = time.monotonic() if keys is not None else 0.0
        self._static = keys is not None
        self._lock = asyncio.Lock()

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
        self._keys = {k["kid"]: k for k in document.get("keys", []) if "kid" in k}
        self._loaded_at = time.monotonic()

    def invalidate(self) -> None:
        """Forget the cached keys: the next lookup reloads (the gateway calls it after a rotation)."""
        if not self._static:
            self._loaded_at = 0.0

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


class TokenVerifier:
    def __init__(self, keys: KeySet, *, algorithm: str, issuer: str, audience: str) -> None:
        if algorithm not in ALLOWED_ALGORITHMS:
            raise ValueError(f"unsupported algorithm {algorithm}")
        self._keys, self._algorithm = keys, algorithm
        self._issuer, self._audience = issuer, audience

    async def verify(self, token: str) -> dict[str, Any]:
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
        key = await self._keys.get(kid)
        if key is None or key.get("kty") not in {"EC", "RSA"}:
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
        return claims
