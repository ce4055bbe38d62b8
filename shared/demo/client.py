"""The demo's only door to the platform: the gateway's public REST API, as named users.

Every call goes through the gateway with a user's own token, waits out rate limits (429 with
Retry-After) and a briefly unavailable upstream, and turns any other refusal into `ApiError`
carrying the problem+json detail, so a failing step says what the platform answered."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

# Waiting out rate limits must end: a platform refusing for this long is a failure, not a limit.
MAX_WAIT_SECONDS = 300.0
RETRY_STATUSES = frozenset({429, 503})


class ApiError(RuntimeError):
    """The platform refused a call; the message names the call and the problem's detail."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        self.problem = body if isinstance(body, dict) else {"detail": body}
        detail = self.problem.get("detail") or self.problem.get("error_description") or self.problem.get("title")
        errors = self.problem.get("errors")
        super().__init__(f"{method} {path} -> {self.status}: {detail}" + (f" {errors}" if errors else ""))


@dataclass
class Actor:
    """A person signed in through the gateway (password grant); re-signs in when the token expires."""

    username: str
    password: str
    token: str = field(default="", repr=False)
    expires_at: float = 0.0


class Gateway:
    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        while True:
            response = await self.client.request(method, self.base_url + path, **kwargs)
            if response.status_code not in RETRY_STATUSES or time.monotonic() > deadline:
                return response
            retry_after = response.headers.get("retry-after", "1")
            await asyncio.sleep(min(float(retry_after) if retry_after.isdigit() else 1.0, 30.0))

    async def sign_in(self, actor: Actor) -> None:
        response = await self._send(
            "POST",
            "/oauth/token",
            data={"grant_type": "password", "username": actor.username, "password": actor.password},
        )
        if response.status_code != 200:
            raise ApiError("POST", f"/oauth/token ({actor.username})", response)
        body = response.json()
        actor.token = body["access_token"]
        # Renew a minute early so a long step never carries a token that expires on the way.
        actor.expires_at = time.monotonic() + float(body.get("expires_in", 900)) - 60

    async def call(
        self,
        method: str,
        path: str,
        actor: Actor | None,
        *,
        expect: tuple[int, ...] = (200, 201),
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One call as ``actor`` (None: anonymous); a status outside ``expect`` raises ApiError."""
        sent = dict(headers or {})
        if actor is not None:
            if not actor.token or time.monotonic() > actor.expires_at:
                await self.sign_in(actor)
            sent["Authorization"] = f"Bearer {actor.token}"
        response = await self._send(method, path, headers=sent, **kwargs)
        if response.status_code not in expect:
            raise ApiError(method, path, response)
        return response

    async def get(self, path: str, actor: Actor | None, **kwargs: Any) -> Any:
        return (await self.call("GET", path, actor, **kwargs)).json()

    async def post(self, path: str, actor: Actor | None, **kwargs: Any) -> Any:
        response = await self.call("POST", path, actor, **kwargs)
        return response.json() if response.content else None

    async def etag(self, path: str, actor: Actor) -> str:
        return (await self.call("GET", path, actor)).headers["etag"]

    async def all_items(self, path: str, actor: Actor, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paginated list ({items, next_cursor})."""
        items: list[dict[str, Any]] = []
        query = {**(params or {}), "limit": 500}
        while True:
            page = await self.get(path, actor, params=query)
            items += page["items"]
            if not page.get("next_cursor"):
                return items
            query["cursor"] = page["next_cursor"]
