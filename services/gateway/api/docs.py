"""One OpenAPI document for the whole platform: the gateway's routes plus every service's, as the
gateway exposes them (``/api/v1/<service>/...``), and Swagger UI over it outside production."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from services.gateway.upstream import UpstreamFailure, Upstreams, get_upstreams
from shared.errors import NotFound
from shared.openapi import (
    GATEWAY_ROUTED,
    SECURITY_SCHEMES,
    SHARED_SCHEMAS,
    TOKEN_URL,
    problem_response,
    security_schemes,
)

log = logging.getLogger("govperf.gateway.docs")

router = APIRouter(include_in_schema=False)

OPENAPI_URL = "/openapi.json"
GATEWAY_OPENAPI_URL = "/openapi/gateway.json"  # FastAPI's own document of the gateway's routes
PREFIX = "/api/v1/"
CACHE_SECONDS = 60.0
RETRY_SECONDS = 10.0  # a service that was down is asked again this soon
FETCH_TIMEOUT = 5.0
COMPONENT_SECTIONS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
    "pathItems",
)
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Built by shared.openapi the same in every document: kept once, under their own names.
SHARED_COMPONENTS = {"schemas": frozenset(SHARED_SCHEMAS), "securitySchemes": frozenset(SECURITY_SCHEMES)}


def component_name(service: str, name: str) -> str:
    return f"{service}_{name}"


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def rewrite_ref(ref: str, service: str) -> str:
    """``#/components/schemas/X`` -> ``#/components/schemas/<service>_X``; other refs and the shared
    components (``Problem``) unchanged."""
    parts = ref.split("/")
    if len(parts) >= 4 and parts[0] == "#" and parts[1] == "components" and parts[2] in COMPONENT_SECTIONS:
        name = _unescape(parts[3])
        if name not in SHARED_COMPONENTS.get(parts[2], ()):
            parts[3] = _escape(component_name(service, name))
    return "/".join(parts)


def rewrite_refs(node: Any, service: str) -> Any:
    """A deep copy of ``node`` with every component reference renamed for ``service``."""
    if isinstance(node, list):
        return [rewrite_refs(item, service) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            result[key] = rewrite_ref(value, service)
        elif key == "mapping" and isinstance(value, dict):  # discriminator mappings hold refs as strings
            result[key] = {k: rewrite_ref(v, service) if isinstance(v, str) else v for k, v in value.items()}
        else:
            result[key] = rewrite_refs(value, service)
    return result


def merge(
    gateway: dict[str, Any],
    services: dict[str, dict[str, Any]],
    unavailable: list[str],
    *,
    public_url: str = "",
) -> dict[str, Any]:
    """The platform document; ``services`` maps a service name to its own OpenAPI document. Paths
    become ``/api/v1/<service>/...``, component names ``<service>_X``, operation ids
    ``<service>.<aggregate>.<action>`` and tags ``<service>: <aggregate>``; every routed operation
    also documents what the gateway itself can answer (429, 502-504)."""
    document = copy.deepcopy(gateway)
    document["info"] = {**document.get("info", {}), "title": "govperf API"}
    document.pop("security", None)  # each operation says whether it needs a token
    paths: dict[str, Any] = document.setdefault("paths", {})
    components: dict[str, Any] = document.setdefault("components", {})
    token_url = f"{public_url.rstrip('/')}{TOKEN_URL}" if public_url else TOKEN_URL
    components.setdefault("securitySchemes", {}).update(security_schemes(token_url))
    if public_url:
        document["servers"] = [{"url": public_url.rstrip("/"), "description": "the govperf gateway"}]
    tags: list[dict[str, Any]] = list(document.get("tags", []))
    for service, source in sorted(services.items()):
        described = {t.get("name"): t.get("description") for t in source.get("tags", []) if isinstance(t, dict)}
        used: set[str] = set()
        for section, entries in (source.get("components") or {}).items():
            if isinstance(entries, dict):
                target = components.setdefault(section, {})
                for name, value in entries.items():
                    if name not in SHARED_COMPONENTS.get(section, ()):
                        renamed = rewrite_refs(value, service)
                        if section == "schemas" and isinstance(renamed, dict):
                            # Generators name classes by title: two services' (or a service's and the
                            # gateway's) DeadLetterPage would collide and one would be dropped.
                            renamed["title"] = component_name(service, name)
                        target[component_name(service, name)] = renamed
        for path, item in (source.get("paths") or {}).items():
            if not path.startswith(PREFIX):
                continue  # not routed by the gateway (operational routes)
            item = rewrite_refs(item, service)
            for method, operation in item.items():
                if method in HTTP_METHODS and isinstance(operation, dict):
                    if "operationId" in operation:
                        operation["operationId"] = f"{service}.{operation['operationId']}"
                    operation["tags"] = [f"{service}: {t}" for t in operation.get("tags", [])] or [service]
                    used.update(operation["tags"])
                    responses = operation.setdefault("responses", {})
                    # Public routes too: the gateway refuses a bad token even where none is needed.
                    for status in (*GATEWAY_ROUTED, 401):
                        responses.setdefault(str(status), problem_response(status))
                    operation["responses"] = dict(sorted(responses.items()))
            paths[f"{PREFIX}{service}/{path[len(PREFIX) :]}"] = item
        for tag in sorted(used):
            aggregate = tag.partition(": ")[2]
            text = described.get(aggregate) or f"the {service} service, under /api/v1/{service}/"
            tags.append({"name": tag, "description": text})
    if tags:
        document["tags"] = tags
    if unavailable:
        # Said in the document rather than failing it: one service down must not hide the others.
        document["info"]["x-govperf-unavailable-services"] = sorted(unavailable)
    return document


@dataclass
class _Cached:
    document: dict[str, Any] | None
    fetched_at: float
    ok: bool


class OpenApiAggregator:
    """Fetches each service's document at most once a minute and keeps the last good one."""

    def __init__(self, upstreams: Upstreams, timeout: float) -> None:
        self.upstreams, self.timeout = upstreams, min(timeout, FETCH_TIMEOUT)
        self._cache: dict[str, _Cached] = {}
        self._lock = asyncio.Lock()

    def _fresh(self, service: str, now: float) -> bool:
        entry = self._cache.get(service)
        return entry is not None and now - entry.fetched_at < (CACHE_SECONDS if entry.ok else RETRY_SECONDS)

    async def _fetch(self, service: str) -> dict[str, Any] | None:
        try:
            response = await self.upstreams.get(service, OPENAPI_URL, timeout=self.timeout)
            if response.status != 200:
                raise ValueError(f"status {response.status}")
            document = response.json()
        except (UpstreamFailure, ValueError) as exc:
            log.warning("openapi of %s unavailable: %r", service, exc)
            return None
        if not isinstance(document, dict) or "openapi" not in document or not isinstance(document.get("paths"), dict):
            log.warning("openapi of %s is not an OpenAPI document", service)
            return None
        return document

    async def documents(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        services = sorted(self.upstreams.base_urls)
        now = time.monotonic()
        stale = [s for s in services if not self._fresh(s, now)]
        if stale:
            async with self._lock:  # one refresh at a time; later callers find it done
                now = time.monotonic()
                stale = [s for s in services if not self._fresh(s, now)]
                fetched = await asyncio.gather(*(self._fetch(s) for s in stale))
                for service, document in zip(stale, fetched, strict=True):
                    previous = self._cache.get(service)
                    self._cache[service] = _Cached(
                        document if document is not None else (previous.document if previous else None),
                        now,
                        document is not None,
                    )
        found = {s: e.document for s in services if (e := self._cache.get(s)) and e.document is not None}
        unavailable = [s for s in services if not (e := self._cache.get(s)) or not e.ok]
        return found, unavailable


def aggregator(app: FastAPI) -> OpenApiAggregator:
    # Built on first use: the upstream client only exists once the lifespan has run.
    existing = getattr(app.state, "openapi_aggregator", None)
    if existing is None:
        existing = app.state.openapi_aggregator = OpenApiAggregator(
            get_upstreams(app), app.state.settings.upstream_timeout_seconds
        )
    assert isinstance(existing, OpenApiAggregator)
    return existing


@router.get(OPENAPI_URL)
async def openapi(request: Request) -> JSONResponse:
    """The platform's OpenAPI document (the gateway's routes and every service's, as routed)."""
    services, unavailable = await aggregator(request.app).documents()
    settings = request.app.state.settings
    return JSONResponse(merge(request.app.openapi(), services, unavailable, public_url=settings.public_url))


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over the platform document; not served in production."""
    if request.app.state.settings.env == "production":
        raise NotFound()
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title="govperf API")
