"""Appraisal part 2 in the gateway's graph: scoring runs, the league table, the explain tree and
objections with their rulings, read through appraisal_svc's REST routes with the caller's token
(so the graph shows exactly what REST shows) and batched through per-request DataLoaders."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from prometheus_client import REGISTRY

from tests.appraisal_svc.api.results_support import insert_run, to_objection
from tests.appraisal_svc.api.support import Api, World

RESULTS = """query($plan: UUID!, $object: UUID!, $first: Int!) { appraisalPlan(id: $plan) {
  scoringRuns { id version status resultsHash objectCount }
  results(first: $first) { runId version nextCursor items {
    objectId objectName peerGroup composite grade gradeByScore rank peerCount object { name } } }
  result(objectId: $object) { version objectName composite base bonus deduction totalPoints rank peerCount
    subjects { subject weight earned marks score contribution
      leaves { indicatorCode subject value share earned missing } }
    grade { grade gradeByScore vetoCap quotaDemoted thresholds { grade minScore } } }
  objections { id status reason rulingReason resultVersion object { name } result { composite } rescoreRun { id } }
} }"""


def appraisal_calls() -> float:
    return REGISTRY.get_sample_value("govperf_gateway_upstream_requests_total", {"service": "appraisal"}) or 0.0


async def objection_period_with_rulings(api: Api, world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """Version 1 scored and in its objection period; Futian's objection dismissed, Nanshan's open."""
    await to_objection(api, world)
    plan_id = world.plan["id"]

    async def file(county: str) -> dict[str, Any]:
        headers = api.as_("department", f"/gd/sz/{county}", f"clerk-{county}")
        body = {"object_id": world.objects[county], "reason": "The verified Q4 job count was not used."}
        return dict(await api.ok("POST", f"/plans/{plan_id}/objections", 201, headers=headers, json=body))

    futian, nanshan = await file("ft"), await file("ns")
    ruling = {"decision": "dismissed", "reason": "The Q4 count arrived after the verification deadline."}
    headers = api.office | {"If-Match": f'"{futian["lock_version"]}"'}
    dismissed = await api.ok("POST", f"/plans/{plan_id}/objections/{futian['id']}/ruling", headers=headers, json=ruling)
    return dismissed, nanshan


async def test_runs_league_table_explain_tree_and_objections_are_what_rest_shows(api: Api, world: World, graph) -> None:
    dismissed, open_one = await objection_period_with_rulings(api, world)
    plan_id, futian = world.plan["id"], world.objects["ft"]
    data = await graph.data(RESULTS, api.office, plan=plan_id, object=futian, first=100)
    plan = data["appraisalPlan"]

    runs = (await api.ok("GET", f"/plans/{plan_id}/scoring-runs"))["items"]
    assert [(r["id"], r["version"], r["status"], r["resultsHash"]) for r in plan["scoringRuns"]] == [
        (r["id"], r["version"], r["status"], r["results_hash"]) for r in runs
    ]

    table = await api.ok("GET", f"/plans/{plan_id}/results", params={"limit": 100})
    assert plan["results"]["version"] == table["version"] == 1 and plan["results"]["runId"] == table["run_id"]
    assert [
        (r["objectId"], r["composite"], r["grade"], r["rank"], r["peerCount"]) for r in plan["results"]["items"]
    ] == [(r["object_id"], r["composite"], r["grade"], r["rank"], r["peer_count"]) for r in table["items"]]
    assert all(r["object"] == {"name": r["objectName"]} for r in plan["results"]["items"])
    rows = plan["results"]["items"]
    for row in rows:  # competition ranking (1, 1, 3, ...) within the peer group
        better = [o for o in rows if o["peerGroup"] == row["peerGroup"] and D(o["composite"]) > D(row["composite"])]
        assert row["rank"] == 1 + len(better)
    assert len({r["rank"] for r in rows}) < len(rows)  # the engine's values tie two counties

    tree = await api.ok("GET", f"/plans/{plan_id}/results/{futian}")
    result = plan["result"]
    assert (result["composite"], result["base"], result["bonus"], result["deduction"]) == (
        tree["composite"],
        tree["base"],
        tree["bonus"],
        tree["deduction"],
    )
    assert [
        (s["subject"], s["contribution"], [leaf["earned"] for leaf in s["leaves"]]) for s in result["subjects"]
    ] == [(s["subject"], s["contribution"], [leaf["earned"] for leaf in s["leaves"]]) for s in tree["subjects"]]
    assert result["grade"]["grade"] == tree["grade"]["grade"] and result["rank"] == tree["rank"]

    objections = (await api.ok("GET", f"/plans/{plan_id}/objections"))["items"]
    assert sorted((o["id"], o["status"], o["rulingReason"]) for o in plan["objections"]) == sorted(
        (o["id"], o["status"].upper(), o["ruling_reason"]) for o in objections
    )
    by_id = {o["id"]: o for o in plan["objections"]}
    assert by_id[dismissed["id"]]["status"] == "DISMISSED" and by_id[dismissed["id"]]["rescoreRun"] is None
    assert by_id[dismissed["id"]]["object"] == {"name": "County ft"}
    assert by_id[dismissed["id"]]["result"] == {"composite": result["composite"]}
    assert by_id[open_one["id"]]["status"] == "OPEN" and by_id[open_one["id"]]["rulingReason"] is None

    only_open = await graph.data(
        "query($plan: UUID!) { appraisalPlan(id: $plan) { objections(status: OPEN) { id } } }", api.office, plan=plan_id
    )
    assert only_open["appraisalPlan"]["objections"] == [{"id": open_one["id"]}]


async def test_the_league_table_with_its_objects_costs_the_same_calls_however_many_rows(
    api: Api, world: World, graph
) -> None:
    await objection_period_with_rulings(api, world)
    query = """query($plan: UUID!, $first: Int!) { appraisalPlan(id: $plan) {
        results(first: $first) { items { rank object { name orgUnit { name } } } } } }"""

    async def counted(first: int) -> tuple[list[dict[str, Any]], float]:
        before = appraisal_calls()
        data = await graph.data(query, api.office, plan=world.plan["id"], first=first)
        return data["appraisalPlan"]["results"]["items"], appraisal_calls() - before

    two, two_calls = await counted(2)
    six, six_calls = await counted(6)
    assert len(two) == 2 and len(six) == 6
    assert all(row["object"]["orgUnit"]["name"] == row["object"]["name"] for row in six)
    assert six_calls == two_calls == 4  # the plan, the table page, its objects, their units


async def test_a_department_sees_its_own_objections_only_and_a_stranger_sees_nothing(
    api: Api, world: World, graph
) -> None:
    dismissed, _ = await objection_period_with_rulings(api, world)
    plan_id = world.plan["id"]
    query = "query($plan: UUID!) { appraisalPlan(id: $plan) { objections { id object { name } } } }"
    futian = api.as_("department", "/gd/sz/ft", "clerk-ft")
    rest = (await api.ok("GET", f"/plans/{plan_id}/objections", headers=futian))["items"]
    seen = (await graph.data(query, futian, plan=plan_id))["appraisalPlan"]["objections"]
    assert [o["id"] for o in seen] == [o["id"] for o in rest] == [dismissed["id"]]
    stranger = api.as_("perf_office", "/gd/gz")
    assert (await api.call("GET", f"/plans/{plan_id}/results", headers=stranger)).status_code == 404
    everything = """query($plan: UUID!, $object: UUID!) { appraisalPlan(id: $plan) {
        scoringRuns { id } results { version } result(objectId: $object) { composite } objections { id } } }"""
    data = await graph.data(everything, stranger, plan=plan_id, object=world.objects["ft"])
    assert data == {"appraisalPlan": None}


async def test_bad_arguments_are_refused_before_any_call(api: Api, world: World, graph) -> None:
    for field in (
        "results(version: 0) { version }",
        "results(first: 1000) { version }",
        'results(peerGroup: "' + "x" * 65 + '") { version }',
        'results(after: "' + "c" * 65 + '") { version }',
        f'result(objectId: "{world.objects["ft"]}", version: 2000000) {{ composite }}',
    ):
        body = await graph.run(
            "query($plan: UUID!) { appraisalPlan(id: $plan) { " + field + " } }", api.office, plan=world.plan["id"]
        )
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (field, body)
    # A plan without a succeeded run has no league table and no explain tree yet: nulls, no error.
    data = await graph.data(
        "query($plan: UUID!, $object: UUID!) { appraisalPlan(id: $plan) { "
        "scoringRuns { id } results { version } result(objectId: $object) { composite } objections { id } } }",
        api.office,
        plan=world.plan["id"],
        object=world.objects["ft"],
    )
    assert data["appraisalPlan"] == {"scoringRuns": [], "results": None, "result": None, "objections": []}


PLANS_WITH_RESULTS = """{ appraisalPlans(first: 100) { items { id
  scoringRuns { version }
  results(first: 3) { version nextCursor items { rank object { name } } }
  objections { id status } } } }"""


async def test_runs_league_tables_and_objections_of_many_plans_cost_the_same_calls_as_plans_grow(
    api: Api, world: World, graph
) -> None:
    await objection_period_with_rulings(api, world)
    one, one_calls = await _counted(graph, PLANS_WITH_RESULTS, api.office)
    [first] = one["appraisalPlans"]["items"]
    assert [r["version"] for r in first["scoringRuns"]] == [1] and len(first["objections"]) == 2
    # Four more plans over the same counties, each with a result version written as a run leaves it.
    for n in range(4):
        plan = await api.create_plan(
            world.city["id"], world.cycle_id, world.framework_id, list(world.objects.values()), name=f"Plan {n}"
        )
        composites = {obj: D(10 * (i + n)) for i, obj in enumerate(world.objects.values())}
        await insert_run(api.db, plan["id"], composites, version=1)
    five, five_calls = await _counted(graph, PLANS_WITH_RESULTS, api.office)
    plans = five["appraisalPlans"]["items"]
    assert len(plans) == 5 and all(len(p["results"]["items"]) == 3 for p in plans)
    for plan in plans:  # each plan's first page as its own REST route shows it
        table = await api.ok("GET", f"/plans/{plan['id']}/results", params={"limit": 3})
        assert plan["results"]["nextCursor"] == table["next_cursor"]
        assert [r["rank"] for r in plan["results"]["items"]] == [r["rank"] for r in table["items"]]
        assert [r["version"] for r in plan["scoringRuns"]] == [1]
    # plans, runs, first pages of the tables, objections, the rows' objects: one call each.
    assert five_calls == one_calls == 5


async def _counted(graph: Any, query: str, headers: dict[str, str]) -> tuple[dict[str, Any], float]:
    before = appraisal_calls()
    data = await graph.data(query, headers)
    return data, appraisal_calls() - before


async def test_explain_trees_of_a_league_tables_rows_cost_one_call_however_many_rows(
    api: Api, world: World, graph
) -> None:
    await objection_period_with_rulings(api, world)
    query = """query($plan: UUID!, $first: Int!) { appraisalPlan(id: $plan) {
        results(first: $first) { items { objectId composite explain { objectId composite rank } } } } }"""
    counts = {}
    for first in (2, 6):
        before = appraisal_calls()
        data = await graph.data(query, api.office, plan=world.plan["id"], first=first)
        counts[first] = appraisal_calls() - before
        rows = data["appraisalPlan"]["results"]["items"]
        assert len(rows) == first
        for row in rows:  # each row's tree is that object's, as REST explains it
            tree = await api.ok("GET", f"/plans/{world.plan['id']}/results/{row['objectId']}")
            assert row["explain"] == {"objectId": row["objectId"], "composite": tree["composite"], "rank": tree["rank"]}
    assert counts[2] == counts[6] == 3  # the plan, the table page, the rows' explain trees
