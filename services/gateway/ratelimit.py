"""Pure ASGI token-bucket rate limiting: per verified principal, else per client IP, and a stricter
per-IP bucket on the token endpoint. Buckets live in this process, bounded in number."""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.auth.deps import MAX_TOKEN_LENGTH, RepeatedAuthorization, bearer_token, verified_claims
from shared.auth.jwt import TokenError, TokenVerifier
from shared.errors import send_problem

log = logging.getLogger("govperf.gateway.ratelimit")

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a route, not a secret
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes must never be throttled
MAX_BUCKETS = 100_000


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
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.capacity, now)
        else:
            self._buckets.move_to_end(key)  # most recently used last: eviction looks at the front
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _evict(self, now: float) -> None:
        # Amortized O(1): every key is evicted at most once after being added once.
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.updated < self.idle_seconds and len(self._buckets) < self.max_keys:
                return
            del self._buckets[key]


@dataclass
class RateLimits:
    """The buckets of one gateway process; every middleware stack of the app (the routes' and the
    fast routes', ``shared.middleware.FastRoutes``) spends from the same ones."""

    principals: TokenBuckets
    addresses: TokenBuckets
    token_endpoint: TokenBuckets

    @classmethod
    def of(cls, *, per_minute: int, burst: int, token_per_minute: int) -> RateLimits:
        return cls(
            principals=TokenBuckets(per_minute=per_minute, capacity=burst),
            addresses=TokenBuckets(per_minute=per_minute, capacity=burst),
            # Password guessing: ten seconds' worth at once, then the per-minute pace.
            token_endpoint=TokenBuckets(
                per_minute=token_per_minute, capacity=max(1, min(burst, token_per_minute // 6))
            ),
        )


class RateLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        per_minute: int = 0,
        burst: int = 0,
        token_per_minute: int = 0,
        limits: RateLimits | None = None,
    ) -> None:
        """``limits`` shares buckets with other stacks; else they are made from the three rates."""
        self.app = app
        limits = limits or RateLimits.of(per_minute=per_minute, burst=burst, token_per_minute=token_per_minute)
        self.principals, self.addresses, self.token_endpoint = (
            limits.principals,
            limits.addresses,
            limits.token_endpoint,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        if scope["path"] == TOKEN_PATH:
            wait = self.token_endpoint.take(address)
        else:
            try:
                subject = await self._subject(scope)
            except RepeatedAuthorization as exc:
                # The same 400 authentication would give: no reading of the headers differs by layer.
                await send_problem(scope, send, exc)
                return
            wait = self.principals.take(subject) if subject is not None else self.addresses.take(address)
        if wait > 0:
            await self._reject(scope, send, wait)
            return
        await self.app(scope, receive, send)

    async def _subject(self, scope: Scope) -> str | None:
        """The verified subject of the request's token, else None (then the address is the key):
        a junk token naming a victim's subject must not drain the victim's bucket. The claims stay
        in the request's state, so authentication does not verify the token a second time."""
        token = bearer_token(scope["headers"])
        app = scope.get("app")
        verifier: TokenVerifier | None = getattr(getattr(app, "state", None), "verifier", None)
        if token is None or verifier is None or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            claims = await verified_claims(scope, verifier, token)
        except TokenError:
            return None
        subject = claims.get("sub")
        return subject if isinstance(subject, str) else None

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
