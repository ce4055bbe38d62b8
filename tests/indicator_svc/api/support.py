"""Shared helpers of the indicator_svc API tests (the ``api`` fixture lives in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from services.indicator_svc.data import load_city_framework
from services.indicator_svc.framework import codecs
from services.indicator_svc.framework.content import FrameworkContent

BASE = "/api/v1/frameworks"
ORG_UNIT = "00000000-0000-7000-8000-000000000001"
SZ = "/gd/sz"
PROBLEM_JSON = "application/problem+json"

# A tiny framework that passes validation and the default balance policy:
# 80 points measured by statistics, 20 points of public satisfaction (external).
SMALL_INDICATORS: list[dict[str, Any]] = [
    {"code": "S", "name": "Social development", "weight": 100, "category": "social"},
    {
        "code": "S1",
        "parent_code": "S",
        "name": "Employment rate",
        "weight": 80,
        "scoring": {"method": "target_ratio", "cap": 1.2},
        "evaluation_subjects": ["authoritative_source"],
        "nature_tags": ["quantity", "output"],
    },
    {
        "code": "S2",
        "parent_code": "S",
        "name": "Public satisfaction",
        "weight": 20,
        "kind": "satisfaction",
        "scoring": {"method": "satisfaction", "zero_index": 60, "full_index": 95},
        "evaluation_subjects": ["public"],
    },
]


def assert_problem(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """A problem+json answer with ``status``; every name in ``fields`` is among ``errors[].field``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == status and body["type"].startswith("urn:govperf:problem:") and body["title"]
    named = {e.get("field") for e in body.get("errors", [])}
    for field in fields:
        assert any(n == field or (n or "").endswith("." + field) for n in named), (field, body)
    return body


class Api:
    """The calls a user makes, with the perf office of /gd/sz as the default caller."""

    def __init__(self, client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
        self.client, self.auth = client, auth
        self.office = auth("perf_office", org_path=SZ, subject="office-sz")

    async def create(self, *, headers: dict[str, str] | None = None, org_path: str = SZ, **fields: Any) -> dict:
        body = {
            "code": f"F-{uuid.uuid4().hex[:8]}",
            "name": "Test framework",
            "org_unit_id": ORG_UNIT,
            "org_path": org_path,
            **fields,
        }
        r = await self.client.post(BASE, json=body, headers=headers or self.office)
        assert r.status_code == 201, r.text
        return r.json()

    async def if_match(self, framework_id: str, headers: dict[str, str] | None = None) -> dict[str, str]:
        """``If-Match`` with the framework's current ETag, read as the caller (or the office when
        the caller cannot see it): what a client that just reloaded would send."""
        for reader in (headers or self.office, self.office):
            r = await self.client.get(f"{BASE}/{framework_id}", headers=reader)
            if r.status_code == 200:
                return {"If-Match": r.headers["ETag"]}
        return {}

    async def add(
        self, framework_id: str, indicator: dict[str, Any], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        caller = headers or self.office
        return await self.client.post(
            f"{BASE}/{framework_id}/indicators",
            json=indicator,
            headers=caller | await self.if_match(framework_id, caller),
        )

    async def create_small(self, **fields: Any) -> dict:
        """A valid draft holding SMALL_INDICATORS."""
        framework = await self.create(**fields)
        for indicator in SMALL_INDICATORS:
            r = await self.add(framework["id"], indicator, headers=fields.get("headers"))
            assert r.status_code == 201, r.text
        return await self.get(framework["id"], headers=fields.get("headers"))

    async def import_(
        self, data: bytes, fmt: str = "json", *, org_path: str = SZ, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"{BASE}/import",
            params={"format": fmt, "org_unit_id": ORG_UNIT, "org_path": org_path},
            content=data,
            headers=headers or self.office,
        )

    async def import_city(
        self, content: FrameworkContent | None = None, *, org_path: str = SZ, headers: dict[str, str] | None = None
    ) -> dict:
        r = await self.import_(codecs.to_json(content or load_city_framework()), org_path=org_path, headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    async def get(self, framework_id: str, headers: dict[str, str] | None = None) -> dict:
        r = await self.client.get(f"{BASE}/{framework_id}", headers=headers or self.office)
        assert r.status_code == 200, r.text
        return r.json()

    async def indicators(self, framework_id: str) -> list[dict]:
        r = await self.client.get(f"{BASE}/{framework_id}/indicators", headers=self.office)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    async def publish(self, framework_id: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        caller = headers or self.office
        return await self.client.post(
            f"{BASE}/{framework_id}/publish",
            json=body or None,
            headers=caller | await self.if_match(framework_id, caller),
        )

    async def published(self, framework_id: str, **body: Any) -> dict:
        r = await self.publish(framework_id, **body)
        assert r.status_code == 200, r.text
        return r.json()

    async def export(self, framework_id: str, fmt: str = "json", headers: dict[str, str] | None = None) -> bytes:
        r = await self.client.get(
            f"{BASE}/{framework_id}/export", params={"format": fmt}, headers=headers or self.office
        )
        assert r.status_code == 200, r.text
        return r.content

    async def list_ids(self, headers: dict[str, str] | None = None, **params: Any) -> list[str]:
        r = await self.client.get(BASE, params={"limit": 500, **params}, headers=headers or self.office)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["items"]]
