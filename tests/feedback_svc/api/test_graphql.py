"""Feedback through the gateway's GraphQL: cases with recommendations, sessions, tasks, decisions and
the result they rest on, batched by DataLoaders (calls do not grow with the number of cases) and
authorized by feedback_svc itself (another county sees nothing)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED
from services.feedback_svc.case.intake import apply_results_published
from services.gateway.app import create_app
from services.gateway.upstream import HttpxTransport
from shared.events import make_event
from shared.testing.plugin import client_for
from tests.feedback_svc.api.conftest import FUTIAN, session_body
from tests.feedback_svc.support import CITY, county, leaf, results
from tests.gateway.graphql.conftest import OneAtATimeASGITransport, gateway_settings

FEEDBACK_URL = "http://feedback"

CASES = """
query Cases($planId: UUID!) {
  improvementCases(planId: $planId, first: 50) {
    items {
      objectName status reasons
      recommendations { indicatorCode gap peerBest peerMedian trend text }
      sessions { findings taskIds }
      tasks { title status deadline }
      decisions { kind decidedAs }
      result { grade rank vetoed leaves }
    }
    nextCursor
  }
}"""


@contextlib.asynccontextmanager
async def gateway_over(feedback: FastAPI, settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pooled = app.state.upstreams.transport
        app.state.upstreams.transport = HttpxTransport(
            httpx.AsyncClient(mounts={FEEDBACK_URL: OneAtATimeASGITransport(feedback)})
        )
        await pooled.close()
        yield app


@pytest.fixture(scope="session")
async def feedback_gateway(migrated, dev_keys, feedback_app) -> AsyncIterator[FastAPI]:
    settings = gateway_settings(migrated, dev_keys, upstreams={"feedback": FEEDBACK_URL})
    async with gateway_over(feedback_app, settings) as app:
        yield app


def feedback_calls() -> float:
    return REGISTRY.get_sample_value("govperf_gateway_upstream_requests_total", {"service": "feedback"}) or 0.0


async def seed_plan(db, client, office, count: int) -> uuid.UUID:
    """``count`` short counties in one plan, each counseled with one task and one decision."""
    objects = [
        county(f"C{i}", segment=f"c{i}", leaves=[leaf("ECO-01", 2.0 + i / 10, 6.0, name="GDP growth")], peers=count)
        for i in range(count)
    ]
    payload = results(objects)
    await apply_results_published(
        db, make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="test", subject=str(payload.plan_id))
    )
    cases = (await client.get("/api/v1/cases", params={"plan_id": str(payload.plan_id)}, headers=office)).json()
    for case, obj in zip(cases["items"], objects, strict=True):
        body = session_body("2099-01-01", owner=obj.org_path)
        assert (await client.post(f"/api/v1/cases/{case['id']}/sessions", headers=office, json=body)).status_code == 201
        decision = {
            "plan_id": str(payload.plan_id),
            "result_version": 1,
            "object_id": str(obj.object_id),
            "kind": "training",
            "summary": "Training on data quality.",
            "decided_on": "2027-03-01",
            "case_id": case["id"],
        }
        assert (await client.post("/api/v1/decisions", headers=office, json=decision)).status_code == 201
    return payload.plan_id


async def test_cases_and_relations_cost_the_same_calls_for_2_and_6_cases(feedback_gateway, db, client, auth):
    office = auth("perf_office", org_path=CITY)
    calls = {}
    async with client_for(feedback_gateway) as gql:
        for count in (2, 6):
            plan_id = await seed_plan(db, client, office, count)
            before = feedback_calls()
            response = await gql.post(
                "/graphql", json={"query": CASES, "variables": {"planId": str(plan_id)}}, headers=office
            )
            calls[count] = feedback_calls() - before
            body = response.json()
            assert "errors" not in body, body
            items = body["data"]["improvementCases"]["items"]
            assert len(items) == count
            first = items[0]
            assert first["status"] == "COUNSELED" and first["reasons"] == ["low_attainment:ECO-01"]
            assert first["recommendations"][0]["indicatorCode"] == "ECO-01"
            assert first["sessions"][0]["findings"].startswith("GDP growth")
            assert [t["title"] for t in first["tasks"]] == ["Action 0"]
            assert first["decisions"] == [{"kind": "training", "decidedAs": "perf_office"}]
            assert first["result"]["leaves"][0]["indicator_code"] == "ECO-01"
    # One list call plus one batch per relation (sessions, tasks, decisions, results), whatever the count.
    assert calls[2] == calls[6] == 5


async def test_another_county_sees_no_cases_through_the_graph(feedback_gateway, db, client, auth):
    office = auth("perf_office", org_path=CITY)
    plan_id = await seed_plan(db, client, office, 2)
    elsewhere = auth("department", org_path=f"{FUTIAN}-elsewhere")
    async with client_for(feedback_gateway) as gql:
        response = await gql.post(
            "/graphql", json={"query": CASES, "variables": {"planId": str(plan_id)}}, headers=elsewhere
        )
    assert response.json()["data"]["improvementCases"]["items"] == []


MEETINGS = """
query { jointMeetings(first: 20) { items { title membersPresent agendaCases { objectName } tasks { title } } } }"""


async def test_meetings_with_agenda_cases_and_tasks_cost_the_same_calls_for_2_and_5(feedback_gateway, db, client, auth):
    calls = {}
    async with client_for(feedback_gateway) as gql:
        for count in (2, 5):
            scope = f"{CITY}/m{uuid.uuid4().hex[:8]}"
            office = auth("perf_office", org_path=scope)
            objects = [
                county(f"M{i}", segment=f"{scope.rsplit('/', 1)[-1]}/m{i}", leaves=[leaf("ECO-01", 1.0, 6.0)])
                for i in range(2)
            ]
            payload = results(objects)
            await apply_results_published(
                db, make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="test", subject=str(payload.plan_id))
            )
            cases = (await client.get("/api/v1/cases", params={"plan_id": str(payload.plan_id)}, headers=office)).json()
            for n in range(count):
                body = {
                    "org_unit_id": str(uuid.uuid4()),
                    "org_path": scope,
                    "title": f"Meeting {n}",
                    "held_on": "2027-03-05",
                    "members_present": ["perf_office", "finance"],
                    "agenda": [{"case_id": c["id"], "topic": "gap"} for c in cases["items"]],
                    "resolutions": [
                        {
                            "text": f"Resolution {n}",
                            "assignee_unit_id": str(uuid.uuid4()),
                            "assignee_org_path": objects[0].org_path,
                            "deadline": "2027-06-30",
                        }
                    ],
                }
                assert (await client.post("/api/v1/meetings", headers=office, json=body)).status_code == 201
            before = feedback_calls()
            body = (await gql.post("/graphql", json={"query": MEETINGS}, headers=office)).json()
            calls[count] = feedback_calls() - before
            assert "errors" not in body, body
            items = body["data"]["jointMeetings"]["items"]
            assert len(items) == count
            assert sorted(c["objectName"] for c in items[0]["agendaCases"]) == ["M0", "M1"]
            assert items[0]["tasks"] == [{"title": "Resolution 0"}]
    assert calls[2] == calls[5] == 3  # meetings, their agenda cases, their tasks


ESCALATIONS = "query { escalations { cases { objectName status escalationReason } overdueTasks { title } } }"


async def test_supervision_reads_its_worklist_and_a_department_is_refused(feedback_gateway, db, client, auth):
    office = auth("perf_office", org_path=CITY)
    plan_id = await seed_plan(db, client, office, 1)
    (case,) = (await client.get("/api/v1/cases", params={"plan_id": str(plan_id)}, headers=office)).json()["items"]
    body = session_body("2020-01-31", owner=case["org_path"])
    assert (await client.post(f"/api/v1/cases/{case['id']}/sessions", headers=office, json=body)).status_code == 201
    assert (await client.post("/api/v1/sweeps/overdue", headers=office)).status_code == 200
    async with client_for(feedback_gateway) as gql:
        supervision = auth("supervision", org_path=CITY)
        data = (await gql.post("/graphql", json={"query": ESCALATIONS}, headers=supervision)).json()["data"]
        refused = (
            await gql.post("/graphql", json={"query": ESCALATIONS}, headers=auth("department", org_path=CITY))
        ).json()
    mine = [c for c in data["escalations"]["cases"] if c["objectName"] == case["object_name"]]
    assert mine == [
        {
            "objectName": case["object_name"],
            "status": "ESCALATED",
            "escalationReason": "A rectification task passed its deadline.",
        }
    ]
    assert {"title": "Action 0"} in data["escalations"]["overdueTasks"]
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_gateway_routes_feedback_public_pages_without_a_token(feedback_gateway, db, client, auth):
    office = auth("perf_office", org_path=CITY)
    plan_id = await seed_plan(db, client, office, 2)
    (case, *_) = (await client.get("/api/v1/cases", params={"plan_id": str(plan_id)}, headers=office)).json()["items"]
    async with client_for(feedback_gateway) as gateway:
        report = await gateway.get("/public/feedback/usage-report", params={"cycle_id": case["cycle_id"]})
        closed = await gateway.get("/public/feedback/cases", params={"plan_id": str(plan_id)})
        private = await gateway.get("/public/feedback/../api/v1/cases")
    assert report.status_code == 200 and report.json()["overall"] == {
        "grade": "all",
        "published": 2,
        "followed": 2,
        "share": "1.0000",
    }
    assert closed.status_code == 200 and closed.json()["items"] == []  # nothing closed yet
    assert private.status_code == 404
