"""Batch reads across plans (the gateway's DataLoaders) and the league table's read path: each
answers what the plan's own route shows the caller, plans out of sight or unknown contribute
nothing, and the inputs are bounded."""

from __future__ import annotations

import uuid
from typing import Any

from tests.appraisal_svc.api.results_support import to_objection
from tests.appraisal_svc.api.support import Api, World, assert_problem


def clerk(api: Api, county: str) -> dict[str, str]:
    return api.as_("department", f"/gd/sz/{county}", f"clerk-{county}")


async def objection(api: Api, world: World, county: str) -> dict[str, Any]:
    body = {"object_id": world.objects[county], "reason": "The verified Q4 job count was not used."}
    return dict(
        await api.ok("POST", f"/plans/{world.plan['id']}/objections", 201, headers=clerk(api, county), json=body)
    )


async def test_batch_reads_answer_what_each_plan_shows_and_ignore_unknown_plans(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    filed = [await objection(api, world, county) for county in ("ft", "ns")]
    ids = f"{plan_id},{uuid.uuid4()}"
    runs = await api.ok("GET", "/scoring-runs", params={"plan_ids": ids})
    assert runs["items"] == (await api.ok("GET", f"/plans/{plan_id}/scoring-runs"))["items"]
    tables = await api.ok("GET", "/results", params={"plan_ids": ids, "limit": 4})
    own = await api.ok("GET", f"/plans/{plan_id}/results", params={"limit": 4})
    [table] = tables["items"]
    assert (table["plan_id"], table["run_id"], table["version"]) == (plan_id, own["run_id"], own["version"])
    assert table["items"] == own["items"] and table["next_cursor"] == own["next_cursor"] is not None
    groups = await api.ok("GET", "/results", params={"plan_ids": ids, "peer_group": "nobody"})
    assert [t["items"] for t in groups["items"]] == [[]]
    objections = await api.ok("GET", "/objections", params={"plan_ids": ids})
    assert [o["id"] for o in objections["items"]] == sorted(o["id"] for o in filed)
    assert (await api.ok("GET", "/objections", params={"plan_ids": ids, "status": "upheld"}))["items"] == []


async def test_batch_reads_keep_each_callers_sight(api: Api, world: World):
    await to_objection(api, world)
    plan_id = world.plan["id"]
    await objection(api, world, "ft")
    await objection(api, world, "ns")
    # A department: its own object's league row and objection only, and no runs at all.
    table = (await api.ok("GET", "/results", params={"plan_ids": plan_id}, headers=clerk(api, "ft")))["items"]
    assert [[r["object_id"] for r in t["items"]] for t in table] == [[world.objects["ft"]]]
    seen = await api.ok("GET", "/objections", params={"plan_ids": plan_id}, headers=clerk(api, "ft"))
    assert [o["object_id"] for o in seen["items"]] == [world.objects["ft"]]
    assert_problem(await api.call("GET", "/scoring-runs", params={"plan_ids": plan_id}, headers=clerk(api, "ft")), 403)
    # Another city's office sees none of this plan.
    other = api.as_("perf_office", "/gd/gz", "office-gz")
    assert (await api.ok("GET", "/scoring-runs", params={"plan_ids": plan_id}, headers=other))["items"] == []
    assert (await api.ok("GET", "/results", params={"plan_ids": plan_id}, headers=other))["items"] == []
    assert (await api.ok("GET", "/objections", params={"plan_ids": plan_id}, headers=other))["items"] == []


async def test_batch_reads_refuse_unbounded_or_malformed_input(api: Api, world: World):
    many = ",".join(str(uuid.uuid4()) for _ in range(501))
    for path in ("/scoring-runs", "/results", "/objections"):
        assert_problem(await api.call("GET", path, params={"plan_ids": many}), 400, "plan_ids")
        assert_problem(await api.call("GET", path, params={"plan_ids": "not-a-uuid"}), 400, "plan_ids")
        assert_problem(await api.call("GET", path, params={"plan_ids": ","}), 400, "plan_ids")
        assert_problem(await api.call("GET", path), 422, "plan_ids")
    fifty = ",".join(str(uuid.uuid4()) for _ in range(50))
    assert_problem(await api.call("GET", "/results", params={"plan_ids": fifty, "limit": 201}), 422, "limit")
    assert_problem(await api.call("GET", "/results", params={"plan_ids": world.plan["id"], "limit": 501}), 422)


async def test_a_departments_league_table_holds_its_subtree_and_no_sibling_sharing_a_prefix(
    api: Api, world: World
) -> None:
    await to_objection(api, world)
    plan_id = world.plan["id"]
    own = await api.ok("GET", f"/plans/{plan_id}/results", headers=clerk(api, "ft"))
    assert [r["object_id"] for r in own["items"]] == [world.objects["ft"]]
    # "/gd/sz/f" is a prefix of "/gd/sz/ft" but not its ancestor.
    seen = await api.ok("GET", f"/plans/{plan_id}/results", headers=api.as_("department", "/gd/sz/f"))
    assert seen["items"] == []
    # Paging a department's own rows a row at a time ends after its one row.
    first = await api.ok("GET", f"/plans/{plan_id}/results", params={"limit": 1}, headers=clerk(api, "ft"))
    assert len(first["items"]) == 1 and first["next_cursor"] is None


async def test_explain_trees_of_several_objects_are_those_each_route_shows(api: Api, world: World) -> None:
    await to_objection(api, world)
    plan_id = world.plan["id"]
    ids = [world.objects[c] for c in ("ft", "ns", "yt")]
    asked = ",".join([*ids, str(uuid.uuid4())])  # an object of no result is left out
    trees = await api.ok("GET", f"/plans/{plan_id}/explains", params={"object_ids": asked})
    assert [t["object_id"] for t in trees["items"]] == ids and trees["next_cursor"] is None
    for tree in trees["items"]:
        assert tree == await api.ok("GET", f"/plans/{plan_id}/results/{tree['object_id']}")
    own = await api.ok("GET", f"/plans/{plan_id}/explains", params={"object_ids": asked}, headers=clerk(api, "ft"))
    assert [t["object_id"] for t in own["items"]] == [world.objects["ft"]]
    assert_problem(await api.call("GET", f"/plans/{plan_id}/explains", params={"object_ids": asked, "version": 7}), 404)
    other = api.as_("perf_office", "/gd/gz", "office-gz")
    assert_problem(
        await api.call("GET", f"/plans/{plan_id}/explains", params={"object_ids": asked}, headers=other), 404
    )
    many = ",".join(str(uuid.uuid4()) for _ in range(101))
    assert_problem(await api.call("GET", f"/plans/{plan_id}/explains", params={"object_ids": many}), 400, "object_ids")
    assert_problem(await api.call("GET", f"/plans/{plan_id}/explains", params={"object_ids": ","}), 400, "object_ids")
