"""Scoring through the API: a run is a job resource (202, Location, one at a time, idempotent),
every run a new result version; the league table and the explain tree, whose numbers add up by
hand; veto, quota and tie cases; who may see results before publication.

The worker's handler runs in the test's transaction (``score_now``), exactly as the job worker
calls it, so the rolled-back test sees what a committed run writes."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from services.appraisal_svc.scoring import service
from tests.appraisal_svc.api.support import Api, World

D = Decimal


async def no_progress(_: float) -> None:
    return None


async def scoring(api: Api, world: World) -> None:
    """Targets approved, values collected: the plan moves to scoring."""
    await api.collecting(world)
    response = await api.transition(world.plan["id"], "scoring")
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
    assert len(run["results_hash"]) == 64 and len(run["inputs_hash"]) == 64
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
