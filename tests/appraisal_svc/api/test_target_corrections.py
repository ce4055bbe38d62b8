"""A wrong target found in the objection period: the office amends it (reason kept, old value beside
it), upholds the objection naming the amended target, and the rescored version uses the new target.
After publication targets no longer change."""

from __future__ import annotations

from decimal import Decimal

from contracts.appraisal_results import ResultsPublished
from tests.appraisal_svc.api.results_support import finish_run, publish, published_events, to_objection
from tests.appraisal_svc.api.support import Api, World, assert_problem


async def amend(api: Api, plan_id: str, target: dict, value: str) -> dict:
    return await api.ok(
        "PATCH",
        f"/plans/{plan_id}/targets/{target['id']}",
        headers={**api.office, "If-Match": f'"{target["lock_version"]}"'},
        json={"target": value, "reason": "The Q4 target was entered before the flood relief transfer."},
    )


async def test_a_target_corrected_in_the_objection_period_is_scored_in_the_new_version(api: Api, world: World):
    await to_objection(api, world)
    plan_id, ft = world.plan["id"], world.objects["ft"]
    targets = await api.ok("GET", f"/plans/{plan_id}/targets", params={"object_id": ft})
    e1 = next(t for t in targets["items"] if t["indicator_code"] == "E1")
    amended = await amend(api, plan_id, e1, "900")
    assert amended["target"] == "900" and amended["amendments"][0]["old_target"] == "1000"
    objection = await api.ok(
        "POST",
        f"/plans/{plan_id}/objections",
        201,
        headers=api.as_("department", "/gd/sz/ft"),
        json={"object_id": ft, "reason": "Our jobs target still counts the transferred factory."},
    )
    ruled = await api.ok(
        "POST",
        f"/plans/{plan_id}/objections/{objection['id']}/ruling",
        headers={**api.office, "If-Match": f'"{objection["lock_version"]}"'},
        json={
            "decision": "upheld",
            "reason": "The target predates the transfer.",
            "correction": {"target_ids": [e1["id"]], "note": "E1 target 1,000 -> 900 after the transfer."},
        },
    )
    await finish_run(api, str(ruled["rescore_run_id"]))
    plan = await publish(api, world)
    [envelope] = await published_events(api, plan_id)
    published = ResultsPublished.model_validate(envelope["data"])
    leaf = next(
        leaf for o in published.objects if str(o.object_id) == ft for leaf in o.leaves if leaf.indicator_code == "E1"
    )
    assert published.result_version == 2
    assert (leaf.value, leaf.target, leaf.marks) == (Decimal("900"), Decimal("900"), Decimal("30"))

    # Published: the target stands as published.
    again = await api.ok("GET", f"/plans/{plan_id}/targets", params={"object_id": ft})
    e1 = next(t for t in again["items"] if t["indicator_code"] == "E1")
    r = await api.call(
        "PATCH",
        f"/plans/{plan_id}/targets/{e1['id']}",
        headers={**api.office, "If-Match": f'"{e1["lock_version"]}"'},
        json={"target": "800", "reason": "Too late: the plan is published."},
    )
    assert "published" in assert_problem(r, 409)["detail"] and plan["status"] == "published"
