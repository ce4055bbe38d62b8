"""Pure ASGI token-bucket rate limiting: per verified principal, else per client IP, and a stricter
per-IP bucket on the token endpoint. Buckets live in this process, bounded in number."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth.jwt import TokenError, TokenVerifier

log = logging.getLogger("govperf.gateway.ratelimit")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a route, not a secret
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes must never be throttled
MAX_BUCKETS = 100_000
MAX_CACHED_SUBJECTS = 10_000


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """``capacity`` tokens refilled at ``per_minute``; a key idle long enough to be full again is
    indistinguishable from a new one, so it is evicted. At most ``max_keys`` keys are kept."""

    def __init__(self, *, per_minute: int, capacity: int, max_keys: int = MAX_BUCKETS) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(capacity)
        self.max_keys = max_keys
        self.idle_seconds = self.capacity / self.rate
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token for ``key``: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        self._evict(now)
        bucket = self._buckets.pop(key, None) or Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[key] = bucket  # most recently used last: eviction scans from the front
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _evict(self, now: float) -> None:
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.updated < self.idle_seconds and len(self._buckets) < self.max_keys:
                return
            del self._buckets[key]


class VerifiedSubjects:
    """Token -> verified ``sub`` for bucket keys, cached until the token expires, so a token's
    signature is checked once here however many requests carry it. Unverifiable tokens key by IP:
    otherwise anyone could drain a victim's bucket by sending junk tokens naming its subject."""

    def __init__(self, max_entries: int = MAX_CACHED_SUBJECTS) -> None:
        self.max_entries = max_entries
        self._cache: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    async def subject(self, verifier: TokenVerifier | None, token: str) -> str | None:
        if verifier is None or not token or len(token) > 8192:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        now = time.time()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            self._cache.move_to_end(digest)
            return cached[0]
        try:
            claims = await verifier.verify(token)
        except TokenError:
            return None
        subject, expires = claims.get("sub"), claims.get("exp")
        if not isinstance(subject, str) or not isinstance(expires, int | float):
            return None
        self._cache[digest] = (subject, float(expires))
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return subject


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, *, per_minute: int, burst: int, token_per_minute: int) -> None:
        self.app = app
        self.principals = TokenBuckets(per_minute=per_minute, capacity=burst)
        self.addresses = TokenBuckets(per_minute=per_minute, capacity=burst)
        # Password guessing: ten seconds' worth at once, then the per-minute pace.
        self.token_endpoint = TokenBuckets(
            per_minute=token_per_minute, capacity=max(1, min(burst, token_per_minute // 6))
        )
        self.subjects = VerifiedSubjects()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        if scope["path"] == TOKEN_PATH:
            wait = self.token_endpoint.take(address)
        else:
            subject = await self._subject(scope)
            wait = self.principals.take(subject) if subject is not None else self.addresses.take(address)
        if wait > 0:
            await self._reject(scope, send, wait)
            return
        await self.app(scope, receive, send)

    async def _subject(self, scope: Scope) -> str | None:
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        app = scope.get("app")
        verifier = getattr(getattr(app, "state", None), "verifier", None)
        return await self.subjects.subject(verifier, token.strip())

    async def _reject(self, scope: Scope, send: Send, wait: float) -> None:
        retry_after = str(max(1, math.ceil(wait)))
        problem: dict[str, object] = {
            "type": "urn:govperf:problem:rate-limited",
            "title": "Too many requests",
            "status": 429,
            "detail": f"Rate limit reached; retry in {retry_after} s.",
            "instance": scope["path"],
        }
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            problem["request_id"] = request_id
        body = json.dumps(problem).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", retry_after.encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
