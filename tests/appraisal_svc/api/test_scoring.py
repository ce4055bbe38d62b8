"""Scoring through the API: a run is a job resource (202, Location, one at a time, idempotent),
every run a new result version; the league table and the explain tree, whose numbers add up by
hand; veto, quota and tie cases; who may see results before publication.

The worker's handler runs in the test's transaction (``score_now``), exactly as the job worker
calls it, so the rolled-back test sees what a committed run writes."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from contracts.scoring import HASH_RULES
from services.appraisal_svc.scoring import service
from tests.appraisal_svc.api.support import Api, World, assert_problem

D = Decimal


async def no_progress(_: float) -> None:
    return None


async def scoring(api: Api, world: World) -> None:
    """Targets approved, values collected: the plan moves to scoring."""
    await api.collecting(world)
    response = await api.transition(world.plan["id"], "scoring", reason="all data verified early")
    assert response.status_code == 200, response.text


async def accepted(api: Api, obj: str, metric: str, value: str, source: str = "unit", period: str = "2026") -> None:
    """An accepted current value, as collection leaves it after the four-eyes check."""
    await api.db.execute(
        text(
            "INSERT INTO appraisal.data_point (id, object_id, metric, period, source, revision, current, value, "
            "status, submitted_by, submitted_org_path, submitted_at, lock_version) "
            "VALUES (:id, :o, :m, :p, :s, 1, true, :v, 'accepted', 'x', '/gd', now(), 1)"
        ),
        {"id": uuid.uuid4(), "o": uuid.UUID(obj), "m": metric, "p": period, "s": source, "v": D(value)},
    )


async def request(api: Api, plan_id: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return await api.call("POST", f"/plans/{plan_id}/scoring-runs", headers=headers, **kwargs)


async def score_now(api: Api, plan_id: str) -> dict[str, Any]:
    """Request a run and let the worker's handler run it; the run as GET shows it."""
    response = await request(api, plan_id)
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    assert response.headers["location"] == f"/api/v1/plans/{plan_id}/scoring-runs/{run_id}"
    await service.run_scoring(api.db, run_id=uuid.UUID(run_id), report=no_progress)
    await api.db.execute(
        text("UPDATE appraisal.job SET status = 'succeeded' WHERE params ->> 'run_id' = :r"), {"r": run_id}
    )
    return await api.ok("GET", f"/plans/{plan_id}/scoring-runs/{run_id}")


async def test_a_plan_scored_end_to_end_and_every_number_of_the_tree_adds_up(api: Api, world: World):
    plan_id = world.plan["id"]
    await scoring(api, world)
    values = {"ft": ("1100", "95", "35"), "ns": ("1000", "72.5", "20"), "lh": ("500", "40", "5")}
    for county, (jobs_, rate, green) in values.items():
        obj = world.objects[county]
        await accepted(api, obj, "E1", jobs_)
        await accepted(api, obj, "E2", rate)
        await accepted(api, obj, "E3", green)
        await accepted(api, obj, "S1", "88", source="survey")
    run = await score_now(api, plan_id)
    assert run["status"] == "succeeded" and run["version"] == 1 and run["progress"] == 1
    assert run["object_count"] == 6 and run["value_count"] == 12
    assert len(run["results_hash"]) == 64 and len(run["inputs_hash"]) == 64 and run["hash_rules"] == HASH_RULES
    assert set(run["timings"]) == {"load", "score", "roll_up", "hash"}

    tree = await api.ok("GET", f"/plans/{plan_id}/results/{world.objects['ft']}")
    places = tree["score_places"]
    leaves = {leaf["indicator_code"]: leaf for s in tree["subjects"] for leaf in s["leaves"]}
    # E1: 1100 / 1000 = 1.1 (cap 1.2) x 30 marks = 33; E2: (95 - 50) / (95 - 50) = 1 x 20;
    # E3: 35 reaches the 30 band (share 1) x 10; S1: (88 - 60) / (95 - 60) = 0.8 x 30 = 24.
    assert (leaves["E1"]["share"], leaves["E1"]["earned"]) == ("1.1", "33")
    assert (leaves["E2"]["earned"], leaves["E3"]["earned"], leaves["S1"]["earned"]) == ("20", "10", "24")
    assert leaves["Q1"]["missing"] and leaves["Q1"]["earned"] == "0"  # no rating: missing, zero rule
    total = D(tree["total_points"])
    base = D(0)
    for subject in tree["subjects"]:
        earned = sum((D(leaf["earned"]) for leaf in subject["leaves"]), D(0))
        marks = sum((D(leaf["marks"]) for leaf in subject["leaves"]), D(0))
        assert (D(subject["earned"]), D(subject["marks"])) == (earned, marks)
        if marks:
            exact = (
                total
                * D(subject["declared_weight"])
                * earned
                / (marks * sum(D(s["declared_weight"]) for s in tree["subjects"] if D(s["marks"]) > 0))
            )
            assert D(subject["contribution"]) == exact.quantize(D(1).scaleb(-places), rounding="ROUND_HALF_UP")
        base += D(subject["contribution"])
    assert D(tree["base"]) == base
    assert D(tree["composite"]) == max(D(0), base + D(tree["bonus"]) - D(tree["deduction"]))
    # performance office 63/60 x 60 = 63... capped by the subject's marks: 63 of 60 is 105 out of 100.
    subjects = {s["subject"]: s for s in tree["subjects"]}
    assert subjects["performance_office"]["score"] == "105"
    assert subjects["experts"]["score"] == "0" and subjects["public"]["score"] == "80"

    table = await api.ok("GET", f"/plans/{plan_id}/results")
    assert table["version"] == 1 and len(table["items"]) == 6
    ranks = {row["object_id"]: row["rank"] for row in table["items"]}
    assert ranks[world.objects["ft"]] == 1 and ranks[world.objects["ns"]] == 2 and ranks[world.objects["lh"]] == 3
    # The three counties without values tie at 0 and share rank 4 (competition ranking).
    assert sorted(ranks.values()) == [1, 2, 3, 4, 4, 4]


# A framework whose composite is the satisfaction value itself (100 marks, index 0..100), with a
# veto leaf capping the grade at C: composites, veto, quota and ties are set exactly by the values.
DIRECT: dict[str, Any] = {
    "code": "direct-2026",
    "name": "Direct",
    "total_points": 100,
    "indicators": [
        {
            "code": "P1",
            "name": "Index",
            "weight": 100,
            "kind": "satisfaction",
            "scoring": {"method": "satisfaction", "zero_index": 0, "full_index": 100},
            "evaluation_subjects": ["performance_office"],
        },
        {
            "code": "V1",
            "name": "Major accidents",
            "weight": 0,
            "kind": "qualitative",
            "scoring": {"method": "veto", "events": ["major_accident"], "cap_grade": "C"},
        },
    ],
}


async def direct_plan(api: Api, world: World, values: dict[str, str], **fields: Any) -> str:
    """A plan of the six counties on DIRECT, in scoring, with each county's index accepted."""
    event = await api.receive_framework(DIRECT)
    plan = await api.create_plan(
        world.city["id"],
        world.cycle_id,
        event.data["framework_id"],
        list(world.objects.values()),
        subject_weights={"performance_office": "1"},
        **fields,
    )
    for to in ("targets_open", "collecting"):
        assert (await api.transition(plan["id"], to)).status_code == 200
    response = await api.transition(plan["id"], "scoring", reason="all data verified early")
    assert response.status_code == 200, response.text
    for county, value in values.items():
        await accepted(api, world.objects[county], "P1", value, source="survey")
    return str(plan["id"])


async def veto(api: Api, plan_id: str, obj: str, code: str = "major_accident") -> None:
    await api.db.execute(
        text(
            "INSERT INTO appraisal.veto_event (id, plan_id, object_id, code, description, recorded_by, recorded_at) "
            "VALUES (gen_random_uuid(), :p, :o, :c, 'fire at the plant', 'office-sz', now())"
        ),
        {"p": uuid.UUID(plan_id), "o": uuid.UUID(obj), "c": code},
    )


QUOTA_SCHEME = {
    "grades": [
        {"grade": "A", "min_score": 90},
        {"grade": "B", "min_score": 75},
        {"grade": "C", "min_score": 60},
        {"grade": "D", "min_score": 0},
    ],
    "top_grade_quota": "0.34",
}


async def test_veto_caps_the_grade_and_the_quota_moves_every_object_tied_at_its_boundary(api: Api, world: World):
    values = {"ft": "95", "ns": "92", "lh": "92", "bx": "91", "lg": "80", "yt": "50"}
    plan_id = await direct_plan(api, world, values, grade_scheme=QUOTA_SCHEME)
    await veto(api, plan_id, world.objects["bx"])
    await veto(api, plan_id, world.objects["lg"], code="not_listed")  # a code no veto leaf names
    run = await score_now(api, plan_id)
    assert run["status"] == "succeeded"
    table = {row["object_id"]: row for row in (await api.ok("GET", f"/plans/{plan_id}/results"))["items"]}
    got = {c: (table[o]["composite"], table[o]["grade"], table[o]["rank"]) for c, o in world.objects.items()}
    # floor(0.34 x 6) = 2 best grades: ft keeps A; ns and lh tie at 92 for the last slot and both
    # move to B. bx scores an A but its veto caps it at C. Ranks are competition ranks (1, 2, 2, 4).
    assert got == {
        "ft": ("95", "A", 1),
        "ns": ("92", "B", 2),
        "lh": ("92", "B", 2),
        "bx": ("91", "C", 4),
        "lg": ("80", "B", 5),
        "yt": ("50", "D", 6),
    }
    tied = await api.ok("GET", f"/plans/{plan_id}/results/{world.objects['ns']}")
    assert tied["grade"]["grade_by_score"] == "A" and tied["grade"]["quota_demoted"]
    assert tied["grade"]["top_grade_slots"] == 2 and tied["grade"]["top_grade_quota"] == "0.34"
    vetoed = await api.ok("GET", f"/plans/{plan_id}/results/{world.objects['bx']}")
    assert vetoed["grade"]["veto_codes"] == ["major_accident"] and vetoed["grade"]["veto_cap"] == "C"
    assert vetoed["grade"]["grade_by_score"] == "A" and vetoed["grade"]["grade"] == "C"
    assert [leaf["indicator_code"] for leaf in vetoed["veto_leaves"]] == ["V1"]
    unlisted = await api.ok("GET", f"/plans/{plan_id}/results/{world.objects['lg']}")
    assert unlisted["grade"]["veto_codes"] == [] and unlisted["grade"]["grade"] == "B"


async def test_rescoring_unchanged_data_reproduces_the_hash_and_every_version_stays_readable(api: Api, world: World):
    plan_id = await direct_plan(api, world, {"ft": "95", "ns": "70"})
    first = await score_now(api, plan_id)
    second = await score_now(api, plan_id)
    assert (first["version"], second["version"]) == (1, 2)
    assert first["results_hash"] == second["results_hash"] and first["inputs_hash"] == second["inputs_hash"]
    await accepted(api, world.objects["lh"], "P1", "88", source="authoritative")
    third = await score_now(api, plan_id)
    assert third["version"] == 3 and third["results_hash"] != second["results_hash"]
    assert third["inputs_hash"] != second["inputs_hash"]
    old = await api.ok("GET", f"/plans/{plan_id}/results", params={"version": 1})
    new = await api.ok("GET", f"/plans/{plan_id}/results")
    lh = world.objects["lh"]
    assert old["version"] == 1 and new["version"] == 3
    assert {r["object_id"]: r["composite"] for r in old["items"]}[lh] == "0"
    assert {r["object_id"]: r["composite"] for r in new["items"]}[lh] == "88"
    runs = await api.ok("GET", f"/plans/{plan_id}/scoring-runs", params={"limit": 2})
    assert [r["version"] for r in runs["items"]] == [1, 2] and runs["next_cursor"]
    rest = await api.ok("GET", f"/plans/{plan_id}/scoring-runs", params={"cursor": runs["next_cursor"]})
    assert [r["version"] for r in rest["items"]] == [3] and rest["next_cursor"] is None
    page = await api.ok("GET", f"/plans/{plan_id}/results", params={"limit": 4})
    more = await api.ok("GET", f"/plans/{plan_id}/results", params={"limit": 4, "cursor": page["next_cursor"]})
    assert len(page["items"]) == 4 and len(more["items"]) == 2 and more["next_cursor"] is None
    assert {r["object_id"] for r in page["items"] + more["items"]} == set(world.objects.values())
    assert_problem(await api.call("GET", f"/plans/{plan_id}/results", params={"version": 9}), 404)


async def test_one_run_at_a_time_idempotent_requests_and_states_that_refuse_a_run(api: Api, world: World):
    plan_id = world.plan["id"]
    body = assert_problem(await request(api, plan_id), 409)  # a draft plan is not scorable
    assert "cannot be scored" in body["detail"]
    await scoring(api, world)
    key = {**api.office, "Idempotency-Key": "score-1"}
    first = await request(api, plan_id, headers=key, json={"reason": "first scoring"})
    again = await request(api, plan_id, headers=key, json={"reason": "first scoring"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert first.json()["status"] == "queued" and first.json()["reason"] == "first scoring"
    assert_problem(await request(api, plan_id, headers={**api.office, "Idempotency-Key": "score-1"}), 409)
    body = assert_problem(await request(api, plan_id), 409)  # the first is still queued
    assert "still queued or running" in body["detail"]
    assert_problem(await request(api, plan_id, json={"reason": "x" * 501}), 422, "reason")
    assert_problem(await request(api, plan_id, json={"reason": "ok", "priority": "high"}), 422, "priority")


async def test_ratings_are_sealed_until_the_rating_window_closes(api: Api, world: World):
    closes = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    plan_id = await direct_plan(api, world, {"ft": "95"}, rating_closes_at=closes)
    body = assert_problem(await request(api, plan_id), 409)
    assert "sealed" in body["detail"]


async def test_a_failed_run_records_its_error_without_internals_and_writes_no_results(api: Api, world: World):
    plan_id = await direct_plan(api, world, {"ft": "95"})
    # Stored data the engine cannot score: a framework snapshot without its total points.
    await api.db.execute(
        text(
            "UPDATE appraisal.framework_version SET snapshot = snapshot - 'total_points' "
            "WHERE id = (SELECT framework_id FROM appraisal.plan WHERE id = :p)"
        ),
        {"p": uuid.UUID(plan_id)},
    )
    run = await score_now(api, plan_id)
    assert run["status"] == "failed" and run["results_hash"] is None
    assert run["error"] == service.FAILED and "total_points" not in run["error"]
    assert_problem(await api.call("GET", f"/plans/{plan_id}/results"), 404)
    written = await api.db.scalar(
        text("SELECT count(*) FROM appraisal.result_leaf WHERE run_id = :r"), {"r": uuid.UUID(run["id"])}
    )
    assert written == 0
    assert (await request(api, plan_id)).status_code == 202  # a failed run does not block the next


async def test_results_before_publication_are_for_the_office_the_joint_units_and_each_department_s_own(
    api: Api, world: World
):
    plan_id = await direct_plan(api, world, {"ft": "95", "ns": "70"})
    await score_now(api, plan_id)
    ft, ns = world.objects["ft"], world.objects["ns"]
    for role in ("finance", "audit", "supervision", "legal"):
        table = await api.ok("GET", f"/plans/{plan_id}/results", headers=api.as_(role))
        assert len(table["items"]) == 6, role
        assert (await api.ok("GET", f"/plans/{plan_id}/results/{ns}", headers=api.as_(role)))["object_id"] == ns
    own = api.as_("department", "/gd/sz/ft", "clerk-ft")
    table = await api.ok("GET", f"/plans/{plan_id}/results", headers=own)
    assert [row["object_id"] for row in table["items"]] == [ft]
    assert (await api.ok("GET", f"/plans/{plan_id}/results/{ft}", headers=own))["composite"] == "95"
    assert_problem(await api.call("GET", f"/plans/{plan_id}/results/{ns}", headers=own), 404)
    assert_problem(await api.call("GET", f"/plans/{plan_id}/scoring-runs", headers=own), 403)
    assert_problem(await api.call("GET", f"/plans/{plan_id}/results", headers=api.as_("verifier")), 403)
    other_city = api.as_("perf_office", "/gd/gz", "office-gz")
    assert_problem(await api.call("GET", f"/plans/{plan_id}/results", headers=other_city), 404)
    assert_problem(await request(api, plan_id, headers=other_city), 404)
    for role in ("finance", "department", "verifier", "expert"):
        assert_problem(await request(api, plan_id, headers=api.as_(role, "/gd/sz")), 403)
    county_office = api.as_("perf_office", "/gd/sz/ft", "office-ft")  # below the plan's owner
    assert_problem(await request(api, plan_id, headers=county_office), 403)
    assert_problem(await api.call("GET", f"/plans/{plan_id}/results/{uuid.uuid4()}"), 404)
