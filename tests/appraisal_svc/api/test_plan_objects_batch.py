"""``GET /plan-objects?plan_ids=``: the objects of several plans in one read (the gateway's
DataLoader), each plan seen exactly as its own ``/plans/{id}/objects`` shows it to the caller."""

from __future__ import annotations

import uuid

from tests.appraisal_svc.api.support import Api, World


def _pairs(items: list[dict]) -> set[tuple[str, str, str]]:
    return {(i["plan_id"], i["object_id"], i["peer_group"]) for i in items}


async def test_several_plans_read_at_once_match_each_plan_read_alone(api: Api, world: World) -> None:
    second = await api.create_plan(
        world.city["id"], world.cycle_id, world.framework_id, list(world.objects.values())[:2], name="Two"
    )
    both = await api.ok("GET", "/plan-objects", params={"plan_ids": f"{world.plan['id']},{second['id']}"})
    one_by_one: set[tuple[str, str, str]] = set()
    for plan_id in (world.plan["id"], second["id"]):
        alone = await api.ok("GET", f"/plans/{plan_id}/objects", params={"limit": 100})
        one_by_one |= {(plan_id, i["object_id"], i["peer_group"]) for i in alone["items"]}
    assert _pairs(both["items"]) == one_by_one and len(one_by_one) == 8
    assert both["next_cursor"] is None


async def test_pages_through_the_plans_objects_without_loss_or_repeat(api: Api, world: World) -> None:
    second = await api.create_plan(
        world.city["id"], world.cycle_id, world.framework_id, list(world.objects.values()), name="Again"
    )
    params: dict[str, str | int] = {"plan_ids": f"{world.plan['id']},{second['id']}", "limit": 5}
    seen: list[tuple[str, str, str]] = []
    while True:
        page = await api.ok("GET", "/plan-objects", params=params)
        seen += [(i["plan_id"], i["object_id"], i["peer_group"]) for i in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) == 12 and len(set(seen)) == 12


async def test_a_principal_sees_only_what_each_plan_shows_it_over_rest(api: Api, world: World) -> None:
    county = api.as_("department", "/gd/sz/ft")
    mine = await api.ok("GET", "/plan-objects", headers=county, params={"plan_ids": world.plan["id"]})
    alone = await api.ok("GET", f"/plans/{world.plan['id']}/objects", headers=county)
    assert [i["object_id"] for i in mine["items"]] == [i["object_id"] for i in alone["items"]] == [world.objects["ft"]]
    # Another city's office cannot open the plan (404), so the batch read gives it nothing.
    stranger = api.as_("perf_office", "/gd/gz")
    assert (await api.call("GET", f"/plans/{world.plan['id']}/objects", headers=stranger)).status_code == 404
    assert (await api.ok("GET", "/plan-objects", headers=stranger, params={"plan_ids": world.plan["id"]}))[
        "items"
    ] == []


async def test_bad_plan_id_lists_are_refused_naming_the_parameter(api: Api, world: World) -> None:
    too_many = ",".join(str(uuid.uuid4()) for _ in range(501))
    for value in ("not-a-uuid", too_many, ",", ""):
        response = await api.call("GET", "/plan-objects", params={"plan_ids": value})
        assert response.status_code == 400, value
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == ["plan_ids"]
    assert (await api.call("GET", "/plan-objects")).status_code in (400, 422)
    # A query string past the bound is refused before any id is parsed, naming the parameter.
    huge = await api.call("GET", "/plan-objects", params={"plan_ids": "a" * 20_001})
    assert huge.status_code in (400, 422) and "plan_ids" in huge.text
    assert huge.headers["content-type"].startswith("application/problem+json")
    bad_cursor = await api.call("GET", "/plan-objects", params={"plan_ids": world.plan["id"], "cursor": "AAAA"})
    assert bad_cursor.status_code == 400


async def test_targets_of_several_plans_match_each_plan_read_alone(api: Api, world: World) -> None:
    await api.transition(world.plan["id"], "targets_open")
    await api.approved_targets(world)
    county = api.as_("department", "/gd/sz/ft")
    for headers in (api.office, county):
        both = await api.ok("GET", "/targets", headers=headers, params={"plan_ids": world.plan["id"], "limit": 500})
        alone = await api.ok("GET", f"/plans/{world.plan['id']}/targets", headers=headers, params={"limit": 500})
        assert both["items"] == alone["items"] and both["items"]
    for value in ("not-a-uuid", ""):
        response = await api.call("GET", "/targets", params={"plan_ids": value})
        assert response.status_code == 400 and [e["field"] for e in response.json()["errors"]] == ["plan_ids"]


async def test_collection_of_several_plans_pages_without_loss_and_matches_each_plan(api: Api, world: World) -> None:
    second = await api.create_plan(
        world.city["id"], world.cycle_id, world.framework_id, list(world.objects.values()), name="Again"
    )
    params: dict[str, str | int] = {"plan_ids": f"{world.plan['id']},{second['id']}", "limit": 5}
    rows: list[dict] = []
    while True:
        page = await api.ok("GET", "/collection", params=params)
        rows += page["items"]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert len({(r["plan_id"], r["object_id"]) for r in rows}) == len(rows) == 12
    alone = await api.ok("GET", f"/plans/{world.plan['id']}/collection", params={"limit": 100})
    mine = [{k: v for k, v in r.items() if k != "plan_id"} for r in rows if r["plan_id"] == world.plan["id"]]
    assert mine == alone["items"]
