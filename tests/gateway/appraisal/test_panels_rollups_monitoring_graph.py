"""Expert assignments, roll-ups and monitoring in the gateway's graph: what appraisal_svc's REST
routes show the same caller (an expert sees their own assignments), nothing for a plan a field
does not apply to, and bad arguments refused before any call."""

from __future__ import annotations

from tests.appraisal_svc.api.support import Api, World
from tests.appraisal_svc.api.test_experts import assign, expert, open_window, row
from tests.appraisal_svc.api.test_rollups import accepted, published_plan, quarters, set_rollup

PANEL = """query($plan: UUID!) { appraisalPlan(id: $plan) {
  expertAssignments { id expert objectId indicatorCode subject rated object { name } }
  mine: expertAssignments(mine: true) { id } } }"""

ROLLUP = """query($plan: UUID!) { appraisalPlan(id: $plan) {
  rollup(first: 100) { method subCycleLabels scorePlaces nextCursor
    items { objectId composite missing subCycles { label composite weight } object { name } } } } }"""

MONITORING = """query($plan: UUID!, $asOf: Date, $tolerance: String!) { appraisalPlan(id: $plan) {
  monitoring(asOf: $asOf, tolerance: $tolerance, first: 100) { asOf elapsedShare tolerance nextCursor
    items { objectId indicatorCode value target attainment lag object { name } } } } }"""


async def test_the_expert_panel_is_what_rest_shows_each_caller(api: Api, world: World, graph) -> None:
    await open_window(api, world)
    ids = await assign(api, world, row(world, "ft"), row(world, "ns"), row(world, "ft", expert="expert-wang"))
    plan_id = world.plan["id"]
    office = (await graph.data(PANEL, api.office, plan=plan_id))["appraisalPlan"]
    assert sorted(a["id"] for a in office["expertAssignments"]) == sorted(ids)
    assert all(a["rated"] is False and a["object"]["name"].startswith("County") for a in office["expertAssignments"])
    assert office["mine"] == []  # the office is no expert
    # The expert may not read the plan itself, only their own assignments: the root field.
    rest = await api.ok("GET", f"/plans/{plan_id}/expert-assignments", headers=expert(api))
    query = "query($plan: UUID!) { expertAssignments(planId: $plan) { id expert objectId indicatorCode } }"
    own = (await graph.data(query, expert(api), plan=plan_id))["expertAssignments"]
    assert sorted(a["id"] for a in own) == sorted(a["id"] for a in rest["items"]) and len(own) == 2
    assert {a["expert"] for a in own} == {"expert-li"}
    assert (await graph.run(PANEL, expert(api), plan=plan_id))["data"]["appraisalPlan"] is None
    # A department is refused, as on REST.
    county = api.as_("department", "/gd/sz/ft")
    refused = await graph.run(query, county, plan=plan_id)
    assert refused["data"] is None or refused["data"]["expertAssignments"] is None
    assert (await api.call("GET", f"/plans/{plan_id}/expert-assignments", headers=county)).status_code == 403
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]


async def test_the_rollup_is_what_rest_shows_and_null_without_a_rule(api: Api, world: World, graph) -> None:
    plan_id = world.plan["id"]
    assert (await graph.data(ROLLUP, api.office, plan=plan_id))["appraisalPlan"] == {"rollup": None}
    ft, ns = world.objects["ft"], world.objects["ns"]
    cycles = await quarters(api, world)
    await published_plan(api, world, cycles["2026-Q1"], {ft: "80", ns: "70.5"})
    await published_plan(api, world, cycles["2026-Q2"], {ft: "90", ns: "71"})
    assert (await set_rollup(api, world, {"method": "mean"})).status_code == 200
    table = (await graph.data(ROLLUP, api.office, plan=plan_id))["appraisalPlan"]["rollup"]
    rest = await api.ok("GET", f"/plans/{plan_id}/rollup", params={"limit": 100})
    assert (table["method"], table["subCycleLabels"], table["scorePlaces"]) == (
        rest["method"],
        rest["sub_cycle_labels"],
        rest["score_places"],
    )
    assert [(r["objectId"], r["composite"], r["missing"]) for r in table["items"]] == [
        (r["object_id"], r["composite"], r["missing"]) for r in rest["items"]
    ]
    by_object = {r["objectId"]: r for r in table["items"]}
    assert by_object[ft]["composite"] == "85" and by_object[ft]["object"] == {"name": "County ft"}
    assert [s["label"] for s in by_object[ft]["subCycles"]] == ["2026-Q1", "2026-Q2"]
    # A department sees its own object's row only, as on REST.
    county = api.as_("department", "/gd/sz/ft")
    own = (await graph.data(ROLLUP, county, plan=plan_id))["appraisalPlan"]["rollup"]
    assert [r["objectId"] for r in own["items"]] == [ft]


async def test_monitoring_is_what_rest_shows_for_a_collecting_plan_and_null_otherwise(
    api: Api, world: World, graph
) -> None:
    plan_id = world.plan["id"]
    args = {"plan": plan_id, "asOf": "2026-07-02", "tolerance": "0.1"}
    assert (await graph.data(MONITORING, api.office, **args))["appraisalPlan"] == {"monitoring": None}
    await api.collecting(world)
    await accepted(api, "ft", world.objects["ft"], "E1", "300")
    report = (await graph.data(MONITORING, api.office, **args))["appraisalPlan"]["monitoring"]
    rest = await api.ok(
        "GET", f"/plans/{plan_id}/monitoring", params={"as_of": "2026-07-02", "tolerance": "0.1", "limit": 100}
    )
    assert (report["asOf"], report["elapsedShare"], report["tolerance"]) == ("2026-07-02", "0.49863", "0.1")
    assert [(r["objectId"], r["indicatorCode"], r["attainment"], r["lag"]) for r in report["items"]] == [
        (r["object_id"], r["indicator_code"], r["attainment"], r["lag"]) for r in rest["items"]
    ]
    futian = next(r for r in report["items"] if (r["objectId"], r["indicatorCode"]) == (world.objects["ft"], "E1"))
    assert (futian["value"], futian["lag"], futian["object"]) == ("300", "0.19863", {"name": "County ft"})


async def test_bad_arguments_are_refused_before_any_call(api: Api, world: World, graph) -> None:
    for field in (
        'monitoring(tolerance: "2") { asOf }',
        'monitoring(tolerance: "-0.1") { asOf }',
        'monitoring(tolerance: "NaN") { asOf }',
        'monitoring(tolerance: "lots") { asOf }',
        "monitoring(first: 1000) { asOf }",
        "rollup(first: 0) { method }",
        'rollup(after: "' + "c" * 300 + '") { method }',
    ):
        body = await graph.run(
            "query($plan: UUID!) { appraisalPlan(id: $plan) { " + field + " } }", api.office, plan=world.plan["id"]
        )
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], (field, body)
