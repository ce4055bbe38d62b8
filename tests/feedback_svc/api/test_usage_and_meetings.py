"""Use of results, the usage report, joint meetings and the plan's case policy over HTTP."""

import uuid

from contracts.appraisal_results import APPRAISAL_RESULTS_PUBLISHED
from services.feedback_svc.case.intake import apply_results_published
from shared.events import make_event
from tests.feedback_svc.api.conftest import FUTIAN
from tests.feedback_svc.support import CITY, results, three_counties


def decision(seeded, kind: str, **extra) -> dict:
    return {
        "plan_id": str(seeded.plan_id),
        "result_version": 1,
        "object_id": str(seeded.futian_id),
        "kind": kind,
        "summary": "Decided on the published 2026 result.",
        "decided_on": "2027-03-01",
    } | extra


async def test_each_decision_is_recorded_by_the_role_that_owns_it(client, office, auth, seeded):
    finance, supervision = auth("finance", org_path=CITY), auth("supervision", org_path=CITY)
    bonus = decision(seeded, "performance_bonus", amount="12000.00")
    assert (await client.post("/api/v1/decisions", headers=office, json=bonus)).status_code == 403
    recorded = await client.post("/api/v1/decisions", headers=finance, json=bonus)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["decided_as"] == "finance" and recorded.json()["grade"] == "C"
    talk = decision(seeded, "admonishment_talk", case_id=seeded.case_id)
    assert (await client.post("/api/v1/decisions", headers=finance, json=talk)).status_code == 403
    assert (await client.post("/api/v1/decisions", headers=supervision, json=talk)).status_code == 201
    training = decision(seeded, "training")
    assert (await client.post("/api/v1/decisions", headers=office, json=training)).status_code == 201


async def test_a_decision_must_cite_a_published_result(client, office, seeded):
    never = await client.post("/api/v1/decisions", headers=office, json=decision(seeded, "training", result_version=2))
    assert never.status_code == 422 and never.json()["errors"][0]["field"] == "result_version"
    unknown = await client.post(
        "/api/v1/decisions", headers=office, json=decision(seeded, "training", object_id=str(uuid.uuid4()))
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "object_id"
    wrong_case = await client.post(
        "/api/v1/decisions",
        headers=office,
        json=decision(seeded, "training", object_id=str(seeded.luohu_id), case_id=seeded.case_id),
    )
    assert wrong_case.status_code == 422 and wrong_case.json()["errors"][0]["field"] == "case_id"


async def test_an_office_elsewhere_cannot_decide_on_our_results(client, auth, seeded):
    guangzhou = auth("perf_office", org_path="/gd/gz")
    refused = await client.post("/api/v1/decisions", headers=guangzhou, json=decision(seeded, "training"))
    assert refused.status_code == 422
    listed = await client.get("/api/v1/decisions", headers=guangzhou)
    assert listed.json()["items"] == []


async def test_usage_report_counts_results_followed_by_decisions_by_grade(client, office, auth, seeded):
    await client.post("/api/v1/decisions", headers=office, json=decision(seeded, "training"))
    await client.post("/api/v1/decisions", headers=office, json=decision(seeded, "rotation"))
    commend = decision(seeded, "commendation", object_id=str(seeded.luohu_id))
    await client.post("/api/v1/decisions", headers=office, json=commend)
    report = await client.get("/public/feedback/usage-report", params={"cycle_id": str(seeded.cycle_id)})
    assert report.status_code == 200
    body = report.json()
    assert body["by_grade"] == [
        {"grade": "B", "published": 2, "followed": 1, "share": "0.5000"},
        {"grade": "C", "published": 1, "followed": 1, "share": "1.0000"},
    ]
    assert body["overall"] == {"grade": "all", "published": 3, "followed": 2, "share": "0.6667"}
    assert body["decisions_by_kind"] == {"training": 1, "rotation": 1, "commendation": 1}
    futian_only = await client.get(
        "/api/v1/usage-report", params={"cycle_id": str(seeded.cycle_id), "org_path": FUTIAN}, headers=office
    )
    assert futian_only.json()["overall"]["published"] == 1
    nothing = await client.get("/public/feedback/usage-report", params={"cycle_id": str(uuid.uuid4())})
    assert nothing.status_code == 404


async def test_joint_meeting_resolutions_become_tasks_and_minutes_export(client, office, auth, seeded):
    body = {
        "org_unit_id": str(uuid.uuid4()),
        "org_path": CITY,
        "title": "2027 first joint meeting",
        "held_on": "2027-03-05",
        "members_present": ["perf_office", "finance", "supervision", "legal"],
        "agenda": [{"case_id": seeded.case_id, "topic": "Futian's satisfaction gap"}],
        "resolutions": [
            {
                "text": "Futian publishes a service-hall improvement plan.",
                "assignee_unit_id": str(uuid.uuid4()),
                "assignee_org_path": FUTIAN,
                "deadline": "2027-05-31",
                "case_id": seeded.case_id,
            }
        ],
    }
    finance = auth("finance", org_path=CITY)
    assert (await client.post("/api/v1/meetings", headers=finance, json=body)).status_code == 403
    created = await client.post("/api/v1/meetings", headers=office, json=body)
    assert created.status_code == 201, created.text
    meeting = created.json()
    task_id = meeting["resolutions"][0]["task_id"]
    task = (await client.get(f"/api/v1/tasks/{task_id}", headers=auth("department", org_path=FUTIAN))).json()
    assert task["meeting_id"] == meeting["id"] and task["deadline"] == "2027-05-31"
    minutes = await client.get(f"/api/v1/meetings/{meeting['id']}/minutes", headers=finance)
    assert minutes.status_code == 200 and minutes.headers["content-type"].startswith("text/markdown")
    assert "Member units present: performance management office, finance, supervision, legal affairs" in minutes.text
    assert "Futian's satisfaction gap (case: Futian, 2026" in minutes.text
    assert task_id in minutes.text
    foreign_case = body | {"agenda": [{"case_id": str(uuid.uuid4()), "topic": "x"}], "resolutions": []}
    refused = await client.post("/api/v1/meetings", headers=office, json=foreign_case)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "agenda.0.case_id"
    other_city = auth("legal", org_path="/gd/gz")
    assert (await client.get(f"/api/v1/meetings/{meeting['id']}", headers=other_city)).status_code == 404


async def test_a_stricter_policy_opens_more_cases(client, office, db):
    plan_id = uuid.uuid4()
    policy = {"org_path": CITY, "min_attainment": "0.9", "min_satisfaction": "80", "grade_cutoff": "C"}
    assert (await client.put(f"/api/v1/plans/{plan_id}/case-policy", headers=office, json=policy)).status_code == 200
    payload = results(three_counties(), plan_id=plan_id)
    await apply_results_published(
        db, make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="govperf/appraisal", subject=str(plan_id))
    )
    cases = (await client.get("/api/v1/cases", params={"plan_id": str(plan_id)}, headers=office)).json()["items"]
    by_name = {c["object_name"]: c["reasons"] for c in cases}
    assert by_name == {
        "Futian": ["low_attainment:ECO-01", "low_attainment:SAT-01", "low_satisfaction:SAT-01", "grade"],
        "Nanshan": ["low_attainment:ECO-01", "low_satisfaction:SAT-01"],
    }


async def test_a_policy_from_outside_the_plan_owner_is_ignored_or_refused(client, auth, db, seeded):
    county_office = auth("perf_office", org_path=FUTIAN)
    lenient = {"org_path": FUTIAN, "min_attainment": "0.01", "min_satisfaction": "1", "grade_cutoff": "D"}
    # Once the plan is known, an office below its owner cannot set its policy.
    refused = await client.put(f"/api/v1/plans/{seeded.plan_id}/case-policy", headers=county_office, json=lenient)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "org_path"
    # Before publication it can store one, but the plan's results ignore it.
    plan_id = uuid.uuid4()
    squat = await client.put(f"/api/v1/plans/{plan_id}/case-policy", headers=county_office, json=lenient)
    assert squat.status_code == 200
    payload = results(three_counties(), plan_id=plan_id)
    await apply_results_published(
        db, make_event(APPRAISAL_RESULTS_PUBLISHED, payload, source="govperf/appraisal", subject=str(plan_id))
    )
    office = auth("perf_office", org_path=CITY)
    cases = (await client.get("/api/v1/cases", params={"plan_id": str(plan_id)}, headers=office)).json()["items"]
    assert [c["object_name"] for c in cases] == ["Futian"]  # the defaults, not the county's lenient floors
