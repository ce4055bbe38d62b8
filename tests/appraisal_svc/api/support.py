"""Helpers of the appraisal_svc API tests: the calls users make, and a small appraisal world."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.framework.service import on_framework_published
from services.indicator_svc.framework.content import FrameworkContent
from services.indicator_svc.framework.logic import content_hash
from shared.events import CloudEvent

PROBLEM_JSON = "application/problem+json"
V1 = "/api/v1"
COUNTIES = ["ft", "ns", "lh", "bx", "lg", "yt"]

# Leaves: a ratio target (additive people count), a linear rate, a banded share, a satisfaction
# index and an expert-rated quality leaf.
FRAMEWORK: dict[str, Any] = {
    "code": "city-2026",
    "name": "City appraisal 2026",
    "total_points": 100,
    "indicators": [
        {"code": "E", "name": "Economy", "weight": 60, "category": "economic"},
        {
            "code": "E1",
            "parent_code": "E",
            "name": "New jobs",
            "weight": 30,
            "unit": "people",
            "scoring": {"method": "target_ratio", "cap": "1.2"},
            "evaluation_subjects": ["performance_office"],
        },
        {
            "code": "E2",
            "parent_code": "E",
            "name": "Employment rate",
            "weight": 20,
            "unit": "%",
            "scoring": {"method": "linear", "floor": 50},
            "evaluation_subjects": ["performance_office"],
        },
        {
            "code": "E3",
            "parent_code": "E",
            "name": "Green share",
            "weight": 10,
            "unit": "%",
            "scoring": {"method": "bands", "bands": [{"threshold": 10, "share": "0.5"}, {"threshold": 30, "share": 1}]},
            "evaluation_subjects": ["performance_office"],
        },
        {
            "code": "S1",
            "name": "Public satisfaction",
            "weight": 30,
            "kind": "satisfaction",
            "scoring": {"method": "satisfaction", "zero_index": 60, "full_index": 95},
            "evaluation_subjects": ["public"],
        },
        {
            "code": "Q1",
            "name": "Service quality",
            "weight": 10,
            "kind": "qualitative",
            "scoring": {"method": "grade", "scale": "ABCD", "shares": {"A": 1, "B": "0.8", "C": "0.6", "D": "0.3"}},
            "evaluation_subjects": ["experts"],
        },
    ],
}


def assert_problem(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    """A problem+json answer with ``status``; every name in ``fields`` is among ``errors[].field``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert body["status"] == status and body["type"].startswith("urn:govperf:problem:")
    named = {e.get("field") for e in body.get("errors", [])}
    for name in fields:
        assert any(n == name or (n or "").endswith("." + name) for n in named), (name, body)
    return body


def framework_event(content: dict[str, Any] | None = None, **overrides: Any) -> CloudEvent:
    """indicator.framework.published exactly as indicator_svc builds it."""
    model = FrameworkContent.model_validate(content or FRAMEWORK)
    data = {
        "framework_id": str(uuid.uuid4()),
        "lineage_id": str(uuid.uuid4()),
        "version": 1,
        "org_unit_id": str(uuid.uuid4()),
        "org_path": "/gd/sz",
        "derived_from_id": None,
        "previous_version_id": None,
        "content_hash": content_hash(model),
        "published_at": dt.datetime.now(dt.UTC).isoformat(),
        "published_by": "office-sz",
        "override_reason": None,
        "content": model.model_dump(mode="json"),
        **overrides,
    }
    return CloudEvent(type="indicator.framework.published", source="govperf/indicator", data=data)


@dataclass
class World:
    province: dict[str, Any]
    city: dict[str, Any]
    counties: dict[str, dict[str, Any]]
    department: dict[str, Any]
    objects: dict[str, str]  # county code -> object id
    framework_id: str
    framework_hash: str
    cycle_id: str
    plan: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


class Api:
    """The calls a user makes. Default caller: the city's performance office."""

    def __init__(self, client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], db: AsyncSession) -> None:
        self.client, self.auth, self.db = client, auth, db
        self.admin = auth("admin", org_path="/", subject="admin")
        self.office = auth("perf_office", org_path="/gd/sz", subject="office-sz")

    def as_(self, role: str, org_path: str = "/gd/sz", subject: str | None = None) -> dict[str, str]:
        return self.auth(role, org_path=org_path, subject=subject or f"{role}@{org_path}")

    async def call(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.request(method, V1 + path, headers=headers or self.office, **kwargs)

    async def ok(
        self, method: str, path: str, status: int = 200, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Any:
        response = await self.call(method, path, headers=headers, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def receive_framework(self, content: dict[str, Any] | None = None) -> CloudEvent:
        event = framework_event(content)
        await on_framework_published(self.db, event)
        await self.db.flush()
        return event

    async def world(self) -> World:
        rows = [{"org_path": "/gd", "name": "Guangdong", "kind": "province"}]
        rows.append({"org_path": "/gd/sz", "name": "Shenzhen", "kind": "city"})
        rows += [{"org_path": f"/gd/sz/{c}", "name": f"County {c}", "kind": "county"} for c in COUNTIES]
        rows.append({"org_path": "/gd/sz/ft/edu", "name": "Futian education", "kind": "department"})
        created = await self.ok("POST", "/org-units/import", 201, headers=self.admin, json=rows)
        units = {u["org_path"]: u for u in created["items"]}
        objects = {}
        for c in COUNTIES:
            obj = await self.ok(
                "POST", "/objects", 201, json={"kind": "government", "org_unit_id": units[f"/gd/sz/{c}"]["id"]}
            )
            objects[c] = obj["id"]
        event = await self.receive_framework()
        cycle = await self.ok(
            "POST",
            "/cycles",
            201,
            json={
                "kind": "annual",
                "label": "2026",
                "starts_on": "2026-01-01",
                "ends_on": "2026-12-31",
                "org_path": "/gd/sz",
            },
        )
        plan = await self.create_plan(
            units["/gd/sz"]["id"], cycle["id"], event.data["framework_id"], list(objects.values())
        )
        return World(
            province=units["/gd"],
            city=units["/gd/sz"],
            counties={c: units[f"/gd/sz/{c}"] for c in COUNTIES},
            department=units["/gd/sz/ft/edu"],
            objects=objects,
            framework_id=event.data["framework_id"],
            framework_hash=event.data["content_hash"],
            cycle_id=cycle["id"],
            plan=plan,
        )

    def plan_body(
        self, owner_unit_id: str, cycle_id: str, framework_id: str, object_ids: list[str], **fields: Any
    ) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC)
        return {
            "name": "Shenzhen counties 2026",
            "cycle_id": cycle_id,
            "framework_id": framework_id,
            "owner_unit_id": owner_unit_id,
            "objects": [{"object_id": o} for o in object_ids],
            "subject_weights": {"performance_office": "0.6", "public": "0.3", "experts": "0.1"},
            "grade_scheme": {
                "grades": [
                    {"grade": "A", "min_score": 90},
                    {"grade": "B", "min_score": 75},
                    {"grade": "C", "min_score": 60},
                    {"grade": "D", "min_score": 0},
                ],
                "top_grade_quota": "0.3",
            },
            "missing_rule": "zero",
            "submission_deadline": (now + dt.timedelta(days=30)).isoformat(),
            "verification_deadline": (now + dt.timedelta(days=40)).isoformat(),
            **fields,
        }

    async def create_plan(
        self, owner_unit_id: str, cycle_id: str, framework_id: str, object_ids: list[str], **fields: Any
    ) -> dict[str, Any]:
        body = self.plan_body(owner_unit_id, cycle_id, framework_id, object_ids, **fields)
        return await self.ok("POST", "/plans", 201, json=body)

    async def plan_etag(self, plan_id: str) -> str:
        response = await self.call("GET", f"/plans/{plan_id}", headers=self.office)
        assert response.status_code == 200, response.text
        return response.headers["ETag"]

    async def transition(
        self, plan_id: str, to: str, headers: dict[str, str] | None = None, **fields: Any
    ) -> httpx.Response:
        """A state change with the plan's current ETag unless ``headers`` carry an If-Match."""
        sent = dict(headers or self.office)
        if "If-Match" not in sent:
            sent["If-Match"] = await self.plan_etag(plan_id)
        return await self.call("POST", f"/plans/{plan_id}/transitions", headers=sent, json={"to": to, **fields})

    async def approved_targets(self, world: World, values: dict[str, Decimal] | None = None) -> list[dict[str, Any]]:
        """Targets for E1 and E2 of every county, confirmed by each county and approved by the city."""
        plan_id = world.plan["id"]
        rows = []
        for obj in world.objects.values():
            rows.append({"object_id": obj, "indicator_code": "E1", "target": "1000", "baseline": "900"})
            rows.append({"object_id": obj, "indicator_code": "E2", "target": "95", "baseline": "90"})
        assert (await self.ok("POST", f"/plans/{plan_id}/targets/bulk", json=rows))["written"] == len(rows)
        targets = (await self.ok("GET", f"/plans/{plan_id}/targets", params={"limit": 500}))["items"]
        for c, obj in world.objects.items():
            mine = [t["id"] for t in targets if t["object_id"] == obj]
            await self.ok(
                "POST",
                f"/plans/{plan_id}/targets/confirmations",
                json={"ids": mine},
                headers=self.as_("department", f"/gd/sz/{c}"),
            )
        await self.ok("POST", f"/plans/{plan_id}/targets/approvals", json={"ids": [t["id"] for t in targets]})
        return targets

    async def collecting(self, world: World) -> None:
        assert (await self.transition(world.plan["id"], "targets_open")).status_code == 200
        await self.approved_targets(world)
        response = await self.transition(world.plan["id"], "collecting")
        assert response.status_code == 200, response.text

    async def submit(
        self, county: str, obj: str, value: str, metric: str = "E1", period: str = "2026", **fields: Any
    ) -> dict[str, Any]:
        body = {"object_id": obj, "metric": metric, "period": period, "value": value, **fields}
        return await self.ok(
            "POST",
            "/data-points",
            201,
            json=body,
            headers=self.as_("department", f"/gd/sz/{county}", f"clerk-{county}"),
        )
