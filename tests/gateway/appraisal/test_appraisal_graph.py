"""appraisal_svc behind the gateway's graph: the org tree and plans batched through DataLoaders,
and a principal sees in the graph exactly what appraisal_svc's REST API shows it."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.appraisal_svc.api.support import Api, World

TREE = """query($under: String!) { orgUnits(under: $under, first: 100) { items {
    name kind orgPath parent { name } children { name } objects { name kind orgUnit { name } } } } }"""
PLANS = """{ appraisalPlans(first: 100) { items {
    name status objectCount cycle { label } frameworkVersion { code contentHash } ownerUnit { name } } } }"""


def appraisal_calls() -> float:
    return REGISTRY.get_sample_value("govperf_gateway_upstream_requests_total", {"service": "appraisal"}) or 0.0


async def counted(graph, query: str, headers: dict[str, str], **variables: object) -> tuple[dict, float]:
    before = appraisal_calls()
    data = await graph.data(query, headers, **variables)
    return data, appraisal_calls() - before


async def test_the_tree_with_parents_children_and_objects_costs_the_same_calls_as_it_grows(
    api: Api, world: World, graph
) -> None:
    small, small_calls = await counted(graph, TREE, api.office, under="/gd/sz")
    units = {u["orgPath"]: u for u in small["orgUnits"]["items"]}
    assert len(units) == 8  # the city, six counties, one department
    city = units["/gd/sz"]
    assert city["parent"] is None  # the province is above the office's scope, as over REST
    assert sorted(c["name"] for c in city["children"]) == sorted(f"County {c}" for c in world.counties)
    futian = units["/gd/sz/ft"]
    assert futian["children"] == [{"name": "Futian education"}] and futian["parent"] == {"name": "Shenzhen"}
    assert futian["objects"] == [{"name": "County ft", "kind": "government", "orgUnit": {"name": "County ft"}}]

    # Twenty more counties, each with a government object: the same number of service calls.
    rows = [{"org_path": f"/gd/sz/n{i}", "name": f"New {i}", "kind": "county"} for i in range(20)]
    created = await api.ok("POST", "/org-units/import", 201, headers=api.admin, json=rows)
    for unit in created["items"]:
        await api.ok("POST", "/objects", 201, json={"kind": "government", "org_unit_id": unit["id"]})
    large, large_calls = await counted(graph, TREE, api.office, under="/gd/sz")
    assert len(large["orgUnits"]["items"]) == 28
    assert sum(len(u["objects"]) for u in large["orgUnits"]["items"]) == 26
    assert large_calls == small_calls <= 4  # page, parents, children, objects: one batch each


async def test_plans_with_cycle_framework_and_owner_cost_the_same_calls_as_they_grow(
    api: Api, world: World, graph
) -> None:
    one, one_calls = await counted(graph, PLANS, api.office)
    [plan] = one["appraisalPlans"]["items"]
    assert plan["cycle"] == {"label": "2026"} and plan["ownerUnit"] == {"name": "Shenzhen"}
    assert plan["frameworkVersion"] == {"code": "city-2026", "contentHash": world.framework_hash}
    assert plan["objectCount"] == 6 and plan["status"] == "draft"
    for n in range(4):
        await api.create_plan(
            world.city["id"], world.cycle_id, world.framework_id, list(world.objects.values()), name=f"Plan {n}"
        )
    five, five_calls = await counted(graph, PLANS, api.office)
    assert len(five["appraisalPlans"]["items"]) == 5
    assert five_calls == one_calls <= 4


async def test_a_principal_sees_in_the_graph_what_rest_shows_it_and_nothing_more(api: Api, world: World, graph) -> None:
    county = api.as_("department", "/gd/sz/ft")
    rest_units = await api.ok("GET", "/org-units", headers=county, params={"under": "/gd", "limit": 100})
    data = await graph.data(TREE, county, under="/gd")
    assert {u["orgPath"] for u in data["orgUnits"]["items"]} == {u["org_path"] for u in rest_units["items"]}
    assert {u["orgPath"] for u in data["orgUnits"]["items"]} == {"/gd/sz/ft", "/gd/sz/ft/edu"}
    futian = next(u for u in data["orgUnits"]["items"] if u["orgPath"] == "/gd/sz/ft")
    assert futian["parent"] is None  # Shenzhen is above the county's scope: REST hides it too

    outside = """query($city: UUID!, $county: UUID!, $plan: UUID!, $object: UUID!) {
        city: orgUnit(id: $city) { name } county: orgUnit(id: $county) { name children { name } }
        plan: appraisalPlan(id: $plan) { name } object: appraisalObject(id: $object) { name } }"""
    ids = {
        "city": world.city["id"],
        "county": world.counties["ns"]["id"],
        "plan": world.plan["id"],
        "object": world.objects["ns"],
    }
    # Another city's office: appraisal_svc answers 404 for each over REST, and the graph shows nulls.
    stranger = api.as_("perf_office", "/gd/gz")
    for path in (f"/org-units/{ids['city']}", f"/plans/{ids['plan']}", f"/objects/{ids['object']}"):
        assert (await api.call("GET", path, headers=stranger)).status_code == 404
    assert await graph.data(outside, stranger, **ids) == {"city": None, "county": None, "plan": None, "object": None}
    # Futian's own department: not Nanshan, not the city unit; the city's plan (owned above it) it may read.
    seen = await graph.data(outside, county, **ids)
    assert seen == {"city": None, "county": None, "plan": {"name": world.plan["name"]}, "object": None}
    assert (await api.call("GET", f"/plans/{ids['plan']}", headers=county)).status_code == 200


POINTS = """{ dataPoints(flagged: true, first: 100) { items {
    metric value revision flags { rule status raisedBy } appraisalObject { name orgUnit { name } } } } }"""


async def test_flagged_data_points_with_their_objects_cost_the_same_calls_as_they_grow(
    api: Api, world: World, graph
) -> None:
    await api.transition(world.plan["id"], "targets_open")
    audit = api.as_("audit")

    async def flagged_point(county: str) -> None:
        point = await api.submit(county, world.objects[county], "10")
        await api.ok("POST", f"/data-points/{point['id']}/flags", 201, json={"note": "check"}, headers=audit)

    await flagged_point("ft")
    one, one_calls = await counted(graph, POINTS, api.office)
    [point] = one["dataPoints"]["items"]
    assert point["value"] == "10" and point["revision"] == 1
    assert [f["status"] for f in point["flags"]] == ["open"]
    assert point["appraisalObject"] == {"name": "County ft", "orgUnit": {"name": "County ft"}}
    for county in ("ns", "lh", "bx"):
        await flagged_point(county)
    four, four_calls = await counted(graph, POINTS, api.office)
    assert len(four["dataPoints"]["items"]) == 4
    assert four_calls == one_calls <= 3  # points with flags, objects, units: one batch each

    # Nanshan's department sees its own flagged value only, as over REST.
    nanshan = api.as_("department", "/gd/sz/ns")
    rest = await api.ok("GET", "/data-points", headers=nanshan, params={"flagged": "true"})
    seen = await graph.data(POINTS, nanshan)
    assert len(rest["items"]) == 1 and [p["appraisalObject"]["name"] for p in seen["dataPoints"]["items"]] == [
        "County ns"
    ]
    other = (await api.ok("GET", "/data-points", params={"object_id": world.objects["ft"]}))["items"][0]["id"]
    one_point = "query($id: UUID!) { dataPoint(id: $id) { metric } }"
    assert await graph.data(one_point, nanshan, id=other) == {"dataPoint": None}
    assert await graph.data(one_point, api.office, id=other) == {"dataPoint": {"metric": "E1"}}


PLAN_OBJECTS = (
    """{ appraisalPlans(first: 100) { items { name objects { peerGroup object { name orgUnit { name } } } } } }"""
)


async def test_plan_objects_with_peer_groups_cost_the_same_calls_as_plans_grow(api: Api, world: World, graph) -> None:
    one, one_calls = await counted(graph, PLAN_OBJECTS, api.office)
    [plan] = one["appraisalPlans"]["items"]
    rest = await api.ok("GET", f"/plans/{world.plan['id']}/objects", params={"limit": 100})
    assert sorted((o["object"]["name"], o["peerGroup"]) for o in plan["objects"]) == sorted(
        (i["name"], i["peer_group"]) for i in rest["items"]
    )
    assert len(plan["objects"]) == 6
    for n in range(4):
        await api.create_plan(
            world.city["id"], world.cycle_id, world.framework_id, list(world.objects.values()), name=f"Plan {n}"
        )
    five, five_calls = await counted(graph, PLAN_OBJECTS, api.office)
    assert [len(p["objects"]) for p in five["appraisalPlans"]["items"]] == [6] * 5
    assert five_calls == one_calls <= 4  # plans, plan objects, objects, units: one batch each


async def test_plan_objects_in_the_graph_are_those_rest_shows_the_principal(api: Api, world: World, graph) -> None:
    county = api.as_("department", "/gd/sz/ft")
    rest = await api.ok("GET", f"/plans/{world.plan['id']}/objects", headers=county)
    seen = await graph.data(PLAN_OBJECTS, county)
    [plan] = seen["appraisalPlans"]["items"]
    assert [o["object"]["name"] for o in plan["objects"]] == [i["name"] for i in rest["items"]] == ["County ft"]
    stranger = api.as_("perf_office", "/gd/gz")
    assert (await graph.data(PLAN_OBJECTS, stranger))["appraisalPlans"]["items"] == []
    by_id = "query($id: UUID!) { appraisalPlan(id: $id) { objects { peerGroup } } }"
    assert await graph.data(by_id, stranger, id=world.plan["id"]) == {"appraisalPlan": None}


PLAN_TARGETS = """{ appraisalPlans(first: 100) { items { name targets {
    indicatorCode baseline target status amendments { newTarget } object { name } } } } }"""


async def _open_with_targets(api: Api, plan_id: str, object_ids: list[str]) -> None:
    await api.transition(plan_id, "targets_open")
    rows = [{"object_id": o, "indicator_code": "E1", "target": "1000.50", "baseline": "900"} for o in object_ids]
    assert (await api.ok("POST", f"/plans/{plan_id}/targets/bulk", json=rows))["written"] == len(rows)


async def test_plan_targets_cost_the_same_calls_as_plans_and_targets_grow(api: Api, world: World, graph) -> None:
    objects = list(world.objects.values())
    await _open_with_targets(api, world.plan["id"], objects[:1])
    one, one_calls = await counted(graph, PLAN_TARGETS, api.office)
    [plan] = one["appraisalPlans"]["items"]
    [rest] = (await api.ok("GET", f"/plans/{world.plan['id']}/targets"))["items"]
    assert plan["targets"] == [
        {
            "indicatorCode": "E1",
            "baseline": "900",
            "target": rest["target"],  # the service's exact decimal, no float on the way
            "status": "set",
            "amendments": [],
            "object": {"name": "County ft"},
        }
    ]
    assert rest["target"] == "1000.5"
    for n in range(3):
        more = await api.create_plan(world.city["id"], world.cycle_id, world.framework_id, objects, name=f"Plan {n}")
        await _open_with_targets(api, more["id"], objects)
    many, many_calls = await counted(graph, PLAN_TARGETS, api.office)
    assert sorted(len(p["targets"]) for p in many["appraisalPlans"]["items"]) == [1, 6, 6, 6]
    assert many_calls == one_calls <= 4  # plans, targets, objects, units: one batch each


async def test_plan_targets_in_the_graph_are_those_rest_shows_the_principal(api: Api, world: World, graph) -> None:
    await _open_with_targets(api, world.plan["id"], list(world.objects.values()))
    county = api.as_("department", "/gd/sz/ft")
    rest = await api.ok("GET", f"/plans/{world.plan['id']}/targets", headers=county)
    [plan] = (await graph.data(PLAN_TARGETS, county))["appraisalPlans"]["items"]
    assert [t["object"]["name"] for t in plan["targets"]] == ["County ft"] and len(rest["items"]) == 1
    stranger = api.as_("perf_office", "/gd/gz")
    by_id = "query($id: UUID!) { appraisalPlan(id: $id) { targets { target } } }"
    assert await graph.data(by_id, stranger, id=world.plan["id"]) == {"appraisalPlan": None}
    refused = await api.call("GET", "/targets", headers=stranger, params={"plan_ids": world.plan["id"]})
    assert refused.status_code == 200 and refused.json()["items"] == []


REVISIONS = """{ dataPoints(first: 100) { items { revision value revisions { revision value status current } } } }"""


async def _rejected_then_resubmitted(api: Api, world: World, county: str) -> str:
    first = await api.submit(county, world.objects[county], "1000")
    verifier = api.as_("verifier", "/gd/sz", "verifier-city")
    body = {"to": "rejected", "reason": "the statistics bureau says 900"}
    await api.ok("POST", f"/data-points/{first['id']}/transitions", headers=verifier, json=body)
    return str((await api.submit(county, world.objects[county], "900"))["id"])


async def test_data_point_revisions_cost_the_same_calls_as_values_grow(api: Api, world: World, graph) -> None:
    await api.transition(world.plan["id"], "targets_open")
    await _rejected_then_resubmitted(api, world, "ft")
    one, one_calls = await counted(graph, REVISIONS, api.office)
    [point] = one["dataPoints"]["items"]
    assert point["revision"] == 2 and point["value"] == "900"
    assert point["revisions"] == [
        {"revision": 1, "value": "1000", "status": "rejected", "current": False},
        {"revision": 2, "value": "900", "status": "submitted", "current": True},
    ]
    for county in ("ns", "lh", "bx"):
        await _rejected_then_resubmitted(api, world, county)
    four, four_calls = await counted(graph, REVISIONS, api.office)
    assert [[r["revision"] for r in p["revisions"]] for p in four["dataPoints"]["items"]] == [[1, 2]] * 4
    assert four_calls == one_calls <= 2  # current points, their revisions: one batch each


async def test_data_point_revisions_outside_the_scope_are_not_shown(api: Api, world: World, graph) -> None:
    await api.transition(world.plan["id"], "targets_open")
    futian_point = await _rejected_then_resubmitted(api, world, "ft")
    nanshan = api.as_("department", "/gd/sz/ns")
    rest = await api.ok("GET", "/data-points", headers=nanshan, params={"revisions_of": futian_point})
    assert rest["items"] == []
    one = "query($id: UUID!) { dataPoint(id: $id) { revisions { value } } }"
    assert await graph.data(one, nanshan, id=futian_point) == {"dataPoint": None}
    futian = api.as_("department", "/gd/sz/ft")
    seen = await graph.data(one, futian, id=futian_point)
    assert [r["value"] for r in seen["dataPoint"]["revisions"]] == ["1000", "900"]
    for value in ("not-a-uuid", ",".join([futian_point] * 501)):
        refused = await api.call("GET", "/data-points", params={"revisions_of": value})
        assert refused.status_code == 400 and [e["field"] for e in refused.json()["errors"]] == ["revisions_of"]


COLLECTION = """{ appraisalPlans(first: 100) { items { name collectionStatus {
    expected submitted accepted missing completeness timeliness object { name } } } } }"""


async def test_plan_collection_status_costs_the_same_calls_as_plans_grow(api: Api, world: World, graph) -> None:
    await api.transition(world.plan["id"], "targets_open")
    await api.submit("ft", world.objects["ft"], "1000")
    one, one_calls = await counted(graph, COLLECTION, api.office)
    [plan] = one["appraisalPlans"]["items"]
    rest = await api.ok("GET", f"/plans/{world.plan['id']}/collection", params={"limit": 100})
    assert sorted(
        (s["object"]["name"], s["submitted"], s["missing"], s["completeness"]) for s in plan["collectionStatus"]
    ) == sorted(
        (f"County {r['org_path'].rsplit('/', 1)[1]}", r["submitted"], r["missing"], r["completeness"])
        for r in rest["items"]
    )
    futian = next(s for s in plan["collectionStatus"] if s["object"]["name"] == "County ft")
    assert futian["submitted"] == 1 and futian["timeliness"] == "1"
    for n in range(3):
        await api.create_plan(
            world.city["id"], world.cycle_id, world.framework_id, list(world.objects.values()), name=f"Plan {n}"
        )
    many, many_calls = await counted(graph, COLLECTION, api.office)
    assert [len(p["collectionStatus"]) for p in many["appraisalPlans"]["items"]] == [6] * 4
    assert many_calls == one_calls <= 4  # plans, collection, objects, units: one batch each


async def test_plan_collection_status_in_the_graph_is_what_rest_shows_the_principal(
    api: Api, world: World, graph
) -> None:
    county = api.as_("department", "/gd/sz/ft")
    rest = await api.ok("GET", f"/plans/{world.plan['id']}/collection", headers=county)
    [plan] = (await graph.data(COLLECTION, county))["appraisalPlans"]["items"]
    assert [s["object"]["name"] for s in plan["collectionStatus"]] == ["County ft"] and len(rest["items"]) == 1
    stranger = api.as_("perf_office", "/gd/gz")
    refused = await api.call("GET", "/collection", headers=stranger, params={"plan_ids": world.plan["id"]})
    assert refused.status_code == 200 and refused.json()["items"] == []
    for value in ("not-a-uuid", ""):
        bad = await api.call("GET", "/collection", params={"plan_ids": value})
        assert bad.status_code == 400 and [e["field"] for e in bad.json()["errors"]] == ["plan_ids"]
