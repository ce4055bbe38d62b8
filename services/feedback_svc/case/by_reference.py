"""Results published by reference: a plan too big for one event names the appraisal REST path of
its objects (``objects_ref``) and their hash (``objects_hash``); this fetches them page by page
from appraisal_svc and accepts them only when count and hash match what the event promised."""

from __future__ import annotations

import re

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.appraisal_results import ObjectResult, ResultsPublished, objects_digest

PAGE_LIMIT = 500
# A page of 500 objects with their leaves stays far below this; a bigger answer is not a page.
MAX_PAGE_BYTES = 32 * 1024 * 1024
# A path on appraisal_svc and nothing else: no scheme, host, query, "..", or encoded tricks.
REF_PATTERN = re.compile(r"^/(?:public|api/v1)(?:/[A-Za-z0-9_\-]+)+$")


class ResultsByReference(ValueError):
    """The objects of a plan published by reference could not be fetched or did not match."""


class AppraisalUnavailable(ResultsByReference, ConnectionError):
    """appraisal_svc cannot answer now (unreachable, timed out, 429/502/503/504). A ConnectionError,
    so the consumer waits it out and retries instead of counting it towards a dead letter: the
    event is sound, only its objects are out of reach for a while."""


# Statuses that say "not now" rather than "never".
UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


class ObjectPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ObjectResult]
    next_cursor: str | None = None


class PublishedObjects:
    """Fetches objects by reference from appraisal_svc (``appraisal_url``) over one pooled client."""

    def __init__(self, appraisal_url: str, *, timeout_seconds: float, max_objects: int) -> None:
        self.base_url = appraisal_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self.max_objects = max_objects
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        # Made on first use, inside the running event loop that will use it.
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.timeout_seconds,
                follow_redirects=False,
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(self, published: ResultsPublished) -> list[ObjectResult]:
        ref = published.objects_ref or ""
        if not REF_PATTERN.fullmatch(ref):
            raise ResultsByReference(f"objects_ref of plan {published.plan_id} is not a path on appraisal_svc")
        if published.object_count > self.max_objects:
            raise ResultsByReference(
                f"plan {published.plan_id} has {published.object_count} objects, above the {self.max_objects} accepted"
            )
        objects: list[ObjectResult] = []
        cursor: str | None = None
        while True:
            page = await self._page(ref, cursor)
            objects += page.items
            if len(objects) > published.object_count:
                raise ResultsByReference(f"{ref} lists more objects than the event's {published.object_count}")
            cursor = page.next_cursor
            if cursor is None:
                break
            if not page.items:
                raise ResultsByReference(f"{ref} returned an empty page with a cursor")
        if len(objects) != published.object_count:
            raise ResultsByReference(f"{ref} lists {len(objects)} objects, the event {published.object_count}")
        if objects_digest(objects) != published.objects_hash:
            raise ResultsByReference(f"the objects at {ref} do not match the event's objects_hash")
        return objects

    async def _page(self, ref: str, cursor: str | None) -> ObjectPage:
        params: dict[str, str | int] = {"limit": PAGE_LIMIT}
        if cursor is not None:
            params["cursor"] = cursor
        try:
            async with self.client().stream("GET", self.base_url + ref, params=params) as response:
                if response.status_code in UNAVAILABLE_STATUSES:
                    raise AppraisalUnavailable(f"GET {ref} answered {response.status_code}")
                if response.status_code != 200:
                    raise ResultsByReference(f"GET {ref} answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_PAGE_BYTES:
                        raise ResultsByReference(f"a page of {ref} is larger than {MAX_PAGE_BYTES} bytes")
        except httpx.TransportError as exc:  # connect, read, write, pool and timeouts
            raise AppraisalUnavailable(f"GET {ref} failed: {type(exc).__name__}") from None
        except httpx.HTTPError as exc:
            raise ResultsByReference(f"GET {ref} failed: {type(exc).__name__}") from None
        try:
            return ObjectPage.model_validate_json(bytes(body))
        except ValidationError as exc:
            raise ResultsByReference(
                f"a page of {ref} is not a page of object results ({exc.error_count()} errors)"
            ) from None
