"""Data the GraphQL tests build through indicator_svc's REST API (as its users would)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.indicator_svc.api.support import BASE, ORG_UNIT, Api

PROVINCE = "/gd"


async def published(api: Api, *, org_path: str, headers: dict[str, str]) -> dict[str, Any]:
    """A small valid framework, published by ``headers``' principal."""
    draft = await api.create_small(org_path=org_path, headers=headers)
    response = await api.publish(draft["id"], headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def derived(api: Api, template_id: str, *, org_path: str, headers: dict[str, str]) -> dict[str, Any]:
    """A local draft derived from a published template (it copies the template's indicators)."""
    body = {
        "code": f"D-{uuid.uuid4().hex[:8]}",
        "name": "Local framework",
        "org_unit_id": ORG_UNIT,
        "org_path": org_path,
    }
    response = await api.client.post(f"{BASE}/{template_id}/derive", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def next_version(api: Api, framework_id: str, *, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.client.post(f"{BASE}/{framework_id}/versions", headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
