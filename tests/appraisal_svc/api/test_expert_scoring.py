"""What experts, veto recorders and the survey service put in is what the scoring engine scores:
sealed ratings count once the window has closed (trimmed mean per subject), an active veto caps the
grade and a withdrawn one does not, a survey cell's index is the satisfaction leaf's value."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import text

from contracts.survey_results import SURVEY_RESULTS_FINALIZED, SatisfactionCell, SurveyResultsFinalized
from services.appraisal_svc.expert.satisfaction import on_survey_results_finalized
from shared.events import make_event
from tests.appraisal_svc.api.support import Api, World, assert_problem
from tests.appraisal_svc.api.test_experts import VETO_FRAMEWORK
from tests.appraisal_svc.api.test_scoring import score_now


async def test_ratings_vetoes_and_survey_values_reach_the_scores(api: Api, world: World) -> None:
    event = await api.receive_framework(VETO_FRAMEWORK)
    closes_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    plan = await api.create_plan(
        world.city["id"],
        world.cycle_id,
        event.data["framework_id"],
        list(world.objects.values()),
        rating_closes_at=closes_at,
    )
    plan_id = plan["id"]
    ft, ns, lh = (world.objects[c] for c in ("ft", "ns", "lh"))
    panel = [
        {"expert": name, "expert_org_path": "/gd/gz", "object_id": ft, "indicator_code": "Q1", "subject": "experts"}
        for name in ("expert-li", "expert-wang")
    ]
    li, wang = (await api.ok("POST", f"/plans/{plan_id}/expert-assignments", 201, json={"items": panel}))["ids"]
    await api.collecting(dataclasses.replace(world, plan=plan))
    for assignment, name, grade in ((li, "expert-li", "A"), (wang, "expert-wang", "B")):
        headers = api.auth("expert", org_path="/gd/gz", subject=name)
        rated = await api.call(
            "PUT", f"/plans/{plan_id}/expert-ratings/{assignment}", headers=headers, json={"grade": grade}
        )
        assert rated.status_code == 200, rated.text
    supervision = api.as_("supervision", "/gd/sz", "supervision-sz")
    for obj in (ns, lh):
        body = {"object_id": obj, "code": "major_safety_accident", "description": "Accident report."}
        await api.ok("POST", f"/plans/{plan_id}/veto-events", 201, headers=supervision, json=body)
    vetoes = (await api.ok("GET", f"/plans/{plan_id}/veto-events", params={"object_id": lh}))["items"]
    await api.ok(
        "POST",
        f"/plans/{plan_id}/veto-events/{vetoes[0]['id']}/withdraw",
        headers=supervision,
        json={"reason": "No fault."},
    )
    survey = SurveyResultsFinalized(
        campaign_id=uuid.uuid4(),
        analysis_version=1,
        questionnaire_id=uuid.uuid4(),
        questionnaire_version=1,
        organizer_org_path="/gd/sz",
        cycle_label="2026",
        plan_id=uuid.UUID(plan_id),
        fieldwork_start=dt.date(2026, 3, 1),
        fieldwork_end=dt.date(2026, 3, 31),
        responses_valid=900,
        responses_rejected=10,
        min_cell_size=30,
        results_hash="a" * 64,
        finalized_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC),
        cells=[
            SatisfactionCell(
                object_id=uuid.UUID(ft),
                dimension="overall",
                indicator_code="S1",
                n=300,
                suppressed=False,
                index=Decimal(88),
                ci_low=Decimal(85),
                ci_high=Decimal(91),
            )
        ],
    )
    await on_survey_results_finalized(
        api.db, make_event(SURVEY_RESULTS_FINALIZED, survey, source="govperf/survey", subject=str(survey.campaign_id))
    )
    # While the window is open the engine refuses: the seal holds.
    moved = await api.transition(plan_id, "scoring", reason="All values are in.")
    assert moved.status_code == 200, moved.text
    assert_problem(await api.call("POST", f"/plans/{plan_id}/scoring-runs"), 409)
    await api.db.execute(
        text("UPDATE appraisal.plan SET rating_closes_at = now() - interval '1 second' WHERE id = :id"), {"id": plan_id}
    )
    await api.db.commit()
    api.db.expire_all()

    run = await score_now(api, plan_id)
    assert run["status"] == "succeeded", run
    tree = await api.ok("GET", f"/plans/{plan_id}/results/{ft}")
    leaves = {(leaf["indicator_code"], s["subject"]): leaf for s in tree["subjects"] for leaf in s["leaves"]}
    # Q1: mean of A (1) and B (0.8) = 0.9 of 10 marks; S1: (88 - 60) / (95 - 60) = 0.8 of 30 marks.
    assert leaves[("Q1", "experts")]["earned"] == "9"
    assert leaves[("S1", "public")]["earned"] == "24"
    capped = await api.db.execute(
        text(
            "SELECT object_id::text AS object_id, veto_cap FROM appraisal.result "
            "WHERE plan_id = :p AND veto_cap IS NOT NULL"
        ),
        {"p": plan_id},
    )
    assert {r.object_id: r.veto_cap for r in capped} == {ns: "C"}
