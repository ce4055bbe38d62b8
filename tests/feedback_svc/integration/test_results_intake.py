"""On real PostgreSQL and NATS: `appraisal.results.published` travels through JetStream to the
consumer runner, opens cases once however often it arrives, and a newer result version
refreshes open cases while an older one is refused."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import text

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED
from services.feedback_svc.app import create_app
from shared.events import CloudEvent, make_event
from shared.testing.plugin import client_for, started, wait_for
from tests.feedback_svc.conftest import feedback_settings
from tests.feedback_svc.support import CITY, county, if_match, leaf, results, three_counties

TRUNCATE = (
    "TRUNCATE feedback.plan_result, feedback.object_result, feedback.plan_case_policy, feedback.improvement_case, "
    "feedback.counseling_session, feedback.task, feedback.task_progress, feedback.task_extension, feedback.decision, "
    "feedback.joint_meeting, feedback.outbox, feedback.outbox_sequence, feedback.inbox, feedback.aggregate_version, "
    "feedback.dead_letter, feedback.idempotency_key CASCADE"
)


@pytest.fixture
async def live_app(migrated, dev_keys) -> AsyncIterator:
    """feedback_svc with its consumers and relay running; requests really commit."""
    app = create_app(feedback_settings(migrated, dev_keys))
    async for running in started(app):
        yield running
        async with running.state.engine.begin() as conn:
            await conn.execute(text(TRUNCATE))


@pytest.fixture
async def js(migrated) -> AsyncIterator:
    nc = await nats.connect(migrated.nats_url)
    yield nc.jetstream()
    await nc.close()


async def publish(js, payload, *, times: int = 1) -> None:
    event = make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="govperf/appraisal", subject=str(payload.plan_id))
    body = event.model_dump_json().encode()
    # No Nats-Msg-Id: JetStream keeps every copy, so only the inbox can stop the repeats.
    for _ in range(times):
        await js.publish(f"govperf.{APPRAISAL_RESULTS_PUBLISHED}", body)


async def cases_of(http, office, plan_id) -> list[dict]:
    response = await http.get("/api/v1/cases", params={"plan_id": str(plan_id)}, headers=office)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_published_results_open_one_case_per_short_object_once(live_app, js, auth):
    office = auth("perf_office", org_path=CITY)
    payload = results(three_counties())
    async with client_for(live_app) as http:
        await publish(js, payload, times=3)
        await wait_for(lambda: _count(live_app, "inbox"), timeout=15)
        await asyncio.sleep(0.5)  # room for the repeats to be (not) applied
        cases = await cases_of(http, office, payload.plan_id)
    # Futian (GDP and satisfaction short) and Nanshan (GDP at 83%: above 60%, satisfaction 78 above 70: none).
    assert [c["object_name"] for c in cases] == ["Futian"]
    futian = cases[0]
    assert futian["status"] == "open" and futian["reasons"] == ["low_attainment:ECO-01", "low_satisfaction:SAT-01"]
    assert "Among 3 peers the best is 6.5 and the median 5." in futian["recommendations"][0]["text"]
    assert await _count(live_app, "inbox") == 1  # three copies of one event were applied once
    assert await _count(live_app, "improvement_case") == 1


async def test_newer_version_refreshes_open_cases_and_older_one_is_refused(live_app, js, auth):
    office = auth("perf_office", org_path=CITY)
    objects = three_counties()
    plan_id, cycle_id = uuid.uuid4(), uuid.uuid4()
    async with client_for(live_app) as http:
        await publish(js, results(objects, plan_id=plan_id, cycle_id=cycle_id, version=2))
        await wait_for(lambda: _has_cases(http, office, plan_id), timeout=15)
        # An upheld objection rescored Futian: GDP fine now, satisfaction still short.
        futian = objects[0]
        corrected = county(
            "Futian",
            object_id=futian.object_id,
            leaves=[leaf("ECO-01", 5.8, 6.0, name="GDP growth"), leaf("SAT-01", 62, 80, kind="satisfaction")],
            grade="B",
        )
        await publish(js, results([corrected, *objects[1:]], plan_id=plan_id, cycle_id=cycle_id, version=3))
        await wait_for(lambda: _version_is(http, office, plan_id, 3), timeout=15)
        # A late copy of version 1 changes nothing.
        await publish(js, results(objects, plan_id=plan_id, cycle_id=cycle_id, version=1))
        await wait_for(lambda: _count(live_app, "inbox", 3), timeout=15)
        (case,) = await cases_of(http, office, plan_id)
    assert case["result_version"] == 3 and case["grade"] == "B"
    assert case["reasons"] == ["low_satisfaction:SAT-01"]


async def test_trend_uses_the_previous_cycle_stored_from_its_event(live_app, js, auth):
    office = auth("perf_office", org_path=CITY)
    objects = three_counties()
    last_cycle = uuid.uuid4()
    last_year = [
        county(o.name, object_id=o.object_id, leaves=[leaf("ECO-01", 4.0, 6.0, name="GDP growth")]) for o in objects
    ]
    async with client_for(live_app) as http:
        await publish(js, results(last_year, cycle_id=last_cycle, label="2025"))
        payload = results(objects, previous_cycle_id=last_cycle)
        await publish(js, payload)
        await wait_for(lambda: _has_cases(http, office, payload.plan_id), timeout=15)
        (case,) = await cases_of(http, office, payload.plan_id)
    gdp = case["recommendations"][0]
    assert gdp["trend"] == "declined" and gdp["previous_value"] == "4.0"
    assert "down from 4 last cycle (declined)" in gdp["text"]


async def test_case_closed_and_task_overdue_reach_nats(live_app, js, auth, migrated):
    office = auth("perf_office", org_path=CITY)
    county_user = auth("department", org_path=f"{CITY}/futian")
    verifier = auth("verifier", org_path=CITY)
    payload = results(three_counties())
    listener = await _listen(migrated.nats_url)
    try:
        async with client_for(live_app) as http:
            await publish(js, payload)
            await wait_for(lambda: _has_cases(http, office, payload.plan_id), timeout=15)
            (case,) = await cases_of(http, office, payload.plan_id)
            action = {"title": "Raise GDP", "owner_unit_id": str(uuid.uuid4()), "owner_org_path": f"{CITY}/futian"}
            late = action | {"title": "Report", "deadline": "2020-01-31"}
            session = await http.post(
                f"/api/v1/cases/{case['id']}/sessions",
                headers=office,
                json={
                    "held_on": "2027-02-10",
                    "participants": ["office", "Futian"],
                    "findings": "GDP short",
                    "agreed_actions": [action | {"deadline": "2099-12-31"}, late],
                },
            )
            assert session.status_code == 201, session.text
            sweep = await http.post("/api/v1/sweeps/overdue", headers=office)
            assert sweep.json() == {"marked_overdue": 1}
            assert (await http.post("/api/v1/sweeps/overdue", headers=office)).json() == {"marked_overdue": 0}
            await http.post(f"/api/v1/sessions/{session.json()['id']}/acknowledgement", headers=county_user, json={})
            for task_id in session.json()["task_ids"]:
                done = await http.post(
                    f"/api/v1/tasks/{task_id}/progress",
                    headers=county_user,
                    json={"note": "done", "percent_done": 100, "submit": True},
                )
                assert done.status_code == 201, done.text
                ok = await http.post(
                    f"/api/v1/tasks/{task_id}/verification",
                    headers=await if_match(http, f"/api/v1/tasks/{task_id}", verifier),
                    json={"approved": True, "note": "seen"},
                )
                assert ok.status_code == 200, ok.text
            closed = await http.post(
                f"/api/v1/cases/{case['id']}/transitions",
                headers=await if_match(http, f"/api/v1/cases/{case['id']}", office),
                json={"action": "close"},
            )
            assert closed.status_code == 200, closed.text
        events = await _drain(listener, 2)
    finally:
        await listener[0].close()
    by_type = {e["type"]: e["data"] for e in events}
    assert by_type["feedback.task.overdue"]["title"] == "Report"
    closed_event = by_type["feedback.case.closed"]
    assert closed_event["case_id"] == case["id"] and closed_event["tasks_verified"] == 2
    assert closed_event["tasks_overdue"] == 1 and closed_event["result_version"] == 1


async def _listen(url):
    nc = await nats.connect(url)
    js = nc.jetstream()
    durable = f"t{uuid.uuid4().hex[:8]}"
    psub = await js.pull_subscribe(
        "govperf.feedback.>",
        durable=durable,
        stream="GOVPERF",
        config=ConsumerConfig(durable_name=durable, deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT),
    )
    return nc, psub


async def _drain(listener, expected: int, seconds: float = 15.0) -> list[dict]:
    _, psub = listener
    found: list[dict] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while len(found) < expected and asyncio.get_running_loop().time() < deadline:
        try:
            for msg in await psub.fetch(10, timeout=1.0):
                found.append(json.loads(msg.data))
                await msg.ack()
        except (nats.errors.TimeoutError, TimeoutError):
            continue
    return found


async def _count(app, table: str, at_least: int | None = None):
    async with app.state.engine.connect() as conn:
        n = int(await conn.scalar(text(f"SELECT count(*) FROM feedback.{table}")) or 0)
    return n if at_least is None else n >= at_least


async def _has_cases(http, office, plan_id) -> bool:
    return bool(await cases_of(http, office, plan_id))


async def _version_is(http, office, plan_id, version) -> bool:
    cases = await cases_of(http, office, plan_id)
    return bool(cases) and cases[0]["result_version"] == version


async def test_a_poison_results_event_is_dead_lettered_and_opens_nothing(migrated, dev_keys, js, auth):
    app = create_app(feedback_settings(migrated, dev_keys, consumer_max_deliver=2))
    payload = results(three_counties()).model_dump(mode="json")
    payload["object_count"] = 7  # inline objects must number object_count: the contract refuses it
    event = CloudEvent(type=APPRAISAL_RESULTS_PUBLISHED, source="govperf/appraisal", subject="p", data=payload)
    async for running in started(app):
        try:
            await js.publish(f"govperf.{APPRAISAL_RESULTS_PUBLISHED}", event.model_dump_json().encode())
            await wait_for(lambda app=running: _count(app, "dead_letter", 1), timeout=30)
            assert await _count(running, "improvement_case") == 0
            assert await _count(running, "plan_result") == 0
        finally:
            async with running.state.engine.begin() as conn:
                await conn.execute(text(TRUNCATE))
