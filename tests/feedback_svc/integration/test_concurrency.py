"""Attacks on one row with real commits: replicas sweeping at once, twin requests racing."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED
from services.feedback_svc.app import create_app
from services.feedback_svc.case.intake import apply_results_published
from services.feedback_svc.sweeper import sweep_round
from shared.db import committing
from shared.events import make_event
from shared.testing.plugin import client_for, started, wait_for
from tests.feedback_svc.api.conftest import FUTIAN, session_body
from tests.feedback_svc.conftest import feedback_settings
from tests.feedback_svc.integration.test_results_intake import TRUNCATE
from tests.feedback_svc.support import CITY, if_match, results, three_counties


@pytest.fixture
async def committed_app(migrated, dev_keys) -> AsyncIterator:
    app = create_app(feedback_settings(migrated, dev_keys, run_relay=False, run_consumers=False))
    async for running in started(app):
        yield running
        async with running.state.engine.begin() as conn:
            await conn.execute(text(TRUNCATE))


async def seed_case(app, http, office) -> str:
    payload = results(three_counties())
    async with app.state.sessionmaker() as session, committing(session):
        await apply_results_published(
            session, make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="test", subject=str(payload.plan_id))
        )
    cases = await http.get("/api/v1/cases", params={"plan_id": str(payload.plan_id)}, headers=office)
    return str(cases.json()["items"][0]["id"])


async def test_sweeps_of_several_replicas_mark_each_task_once(committed_app, auth):
    office = auth("perf_office", org_path=CITY)
    async with client_for(committed_app) as http:
        case_id = await seed_case(committed_app, http, office)
        body = session_body(*["2020-03-01"] * 5)
        assert (await http.post(f"/api/v1/cases/{case_id}/sessions", headers=office, json=body)).status_code == 201

    # Four replicas' rounds at once, each on its own connection (no advisory lock: the UPDATE itself
    # must mark each task once).
    async def one_round() -> int:
        async with committed_app.state.engine.connect() as connection:
            return await sweep_round(connection)

    marked = await asyncio.gather(*(one_round() for _ in range(4)))
    assert sum(marked) == 5
    async with committed_app.state.engine.connect() as conn:
        events = await conn.scalar(
            text("SELECT count(*) FROM feedback.outbox WHERE subject = 'govperf.feedback.task.overdue'")
        )
        status = await conn.scalar(text("SELECT status FROM feedback.improvement_case"))
    assert events == 5 and status == "escalated"


async def test_twin_acknowledgements_and_verifications_succeed_once(committed_app, auth):
    office, futian = auth("perf_office", org_path=CITY), auth("department", org_path=FUTIAN)
    async with client_for(committed_app) as http:
        case_id = await seed_case(committed_app, http, office)
        session = (
            await http.post(f"/api/v1/cases/{case_id}/sessions", headers=office, json=session_body("2099-01-01"))
        ).json()
        acks = await asyncio.gather(
            *(http.post(f"/api/v1/sessions/{session['id']}/acknowledgement", headers=futian, json={}) for _ in range(3))
        )
        assert sorted(r.status_code for r in acks) == [200, 409, 409]
        (task_id,) = session["task_ids"]
        await http.post(
            f"/api/v1/tasks/{task_id}/progress", headers=futian, json={"note": "d", "percent_done": 100, "submit": True}
        )
        # Both read the same version: the second to get the row finds it changed (412), not a double verdict.
        current = await if_match(http, f"/api/v1/tasks/{task_id}", office)
        verdicts = await asyncio.gather(
            http.post(f"/api/v1/tasks/{task_id}/verification", headers=current, json={"approved": True, "note": "ok"}),
            http.post(f"/api/v1/tasks/{task_id}/verification", headers=current, json={"approved": False, "note": "no"}),
        )
        assert sorted(r.status_code for r in verdicts) == [200, 412]
        case = (await http.get(f"/api/v1/cases/{case_id}", headers=office)).json()
    approved = next(r for r in verdicts if r.status_code == 200).json()["status"] == "verified"
    assert case["status"] == ("verified" if approved else "in_progress")


async def test_the_running_service_sweeps_on_its_own(migrated, dev_keys, auth):
    app = create_app(
        feedback_settings(migrated, dev_keys, run_relay=False, run_consumers=False, overdue_sweep_seconds=0.2)
    )
    office = auth("perf_office", org_path=CITY)
    async for running in started(app):
        try:
            async with client_for(running) as http:
                case_id = await seed_case(running, http, office)
                body = session_body("2020-03-01")
                session = (await http.post(f"/api/v1/cases/{case_id}/sessions", headers=office, json=body)).json()
                task_url = f"/api/v1/tasks/{session['task_ids'][0]}"

                async def overdue(url: str = task_url) -> bool:
                    task = await http.get(url, headers=office)
                    return task.json()["overdue_at"] is not None

                await wait_for(overdue, timeout=10)
        finally:
            async with running.state.engine.begin() as conn:
                await conn.execute(text(TRUNCATE))
