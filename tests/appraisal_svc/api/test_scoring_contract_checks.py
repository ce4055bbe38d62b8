"""appraisal_svc part 1 follows the scoring contract (docs/scoring.md): plans, targets and values
that scoring could not score are refused when they are set, as problem+json naming the field."""

import copy
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.appraisal_svc.api.support import FRAMEWORK, Api, World, assert_problem

# The support framework plus the leaves whose settings only the contract can check.
CONTRACT_FRAMEWORK: dict[str, Any] = copy.deepcopy(FRAMEWORK)
CONTRACT_FRAMEWORK["indicators"] += [
    {
        "code": "E4",
        "parent_code": "E",
        "name": "Approval time",
        "weight": 5,
        "unit": "days",
        "direction": "lower_better",
        "scoring": {"method": "target_ratio", "zero_point": 20},
        "evaluation_subjects": ["performance_office"],
    },
    {
        "code": "E5",
        "parent_code": "E",
        "name": "Export growth over the baseline",
        "weight": 5,
        "scoring": {"method": "linear", "floor_from": "baseline"},
        "evaluation_subjects": ["performance_office"],
    },
    {
        "code": "B1",
        "name": "Awards",
        "weight": 0,
        "kind": "bonus",
        "scoring": {"method": "bonus", "per_item": 1, "cap": 5},
    },
    {
        "code": "D1",
        "name": "Incidents",
        "weight": 0,
        "kind": "deduction",
        "scoring": {"method": "deduction", "per_item": 2, "cap": 10},
    },
    {
        "code": "V1",
        "name": "Veto events",
        "weight": 0,
        "kind": "veto",
        "scoring": {"method": "veto", "events": ["data_fraud", "major_accident"], "cap_grade": "C"},
    },
]
WORDS_SCHEME = {
    "grades": [
        {"grade": "excellent", "min_score": 90},
        {"grade": "good", "min_score": 75},
        {"grade": "fair", "min_score": 60},
        {"grade": "poor", "min_score": 0},
    ]
}


async def receive_contract_framework(api: Api) -> str:
    event = await api.receive_framework(CONTRACT_FRAMEWORK)
    # Kept like a consumed event, so that a refused request (rolled back) does not take it along.
    await api.db.commit()
    return str(event.data["framework_id"])


async def contract_plan(api: Api, world: World, **fields: Any) -> dict[str, Any]:
    framework_id = await receive_contract_framework(api)
    return await api.create_plan(world.city["id"], world.cycle_id, framework_id, list(world.objects.values()), **fields)


async def test_plan_creation_refuses_a_veto_cap_outside_the_grade_scheme_and_a_bonus_cap_above_the_total(
    api: Api, world: World
):
    framework_id = await receive_contract_framework(api)
    objects = list(world.objects.values())

    def body(**fields: Any) -> dict[str, Any]:
        return api.plan_body(world.city["id"], world.cycle_id, framework_id, objects, **fields)

    problem = assert_problem(
        await api.call("POST", "/plans", json=body(grade_scheme=WORDS_SCHEME)), 422, "grade_scheme"
    )
    assert "veto leaf V1 caps the grade at 'C'" in problem["errors"][0]["message"]
    problem = assert_problem(await api.call("POST", "/plans", json=body(bonus_cap="100.000001")), 422, "bonus_cap")
    assert "exceeds the framework's total points 100" in problem["errors"][0]["message"]
    assert (await api.ok("GET", "/plans", params={"limit": 500}))["items"] == [world.plan]

    plan = await api.ok("POST", "/plans", 201, json=body(bonus_cap="100"))
    assert plan["bonus_cap"] == "100"
    # A draft plan's update is held to the same rules.
    etag = {"If-Match": f'"{plan["lock_version"]}"'}
    url = f"/plans/{plan['id']}"
    assert_problem(
        await api.call("PATCH", url, headers=api.office | etag, json={"grade_scheme": WORDS_SCHEME}),
        422,
        "grade_scheme",
    )
    assert_problem(await api.call("PATCH", url, headers=api.office | etag, json={"bonus_cap": "150"}), 422, "bonus_cap")
    assert (await api.ok("GET", url))["bonus_cap"] == "100"
    changed = await api.ok("PATCH", url, headers=api.office | etag, json={"bonus_cap": "12.5"})
    assert changed["bonus_cap"] == "12.5"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"indicator_code": "E4", "target": "20"}, "below the zero_point 20"),
        ({"indicator_code": "E4", "target": "35"}, "below the zero_point 20"),
        ({"indicator_code": "E5", "target": "12"}, "a baseline is required"),
        ({"indicator_code": "E5", "target": "12", "baseline": "12"}, "must differ from the baseline 12"),
        ({"indicator_code": "E5", "target": "8", "baseline": "12"}, "above the baseline 12"),
        ({"indicator_code": "E2", "target": "40"}, "above the floor 50"),
        ({"indicator_code": "S1", "target": "100.5"}, "[0, 100]"),
        ({"indicator_code": "S1", "target": "-1"}, "[0, 100]"),
    ],
)
async def test_targets_scoring_could_not_meet_are_refused_singly_and_in_bulk(
    api: Api, world: World, row: dict[str, str], message: str
):
    plan = await contract_plan(api, world)
    obj = world.objects["ft"]
    single = await api.call("POST", f"/plans/{plan['id']}/targets", json={"object_id": obj, **row})
    problem = assert_problem(single, 422, "target")
    assert message in problem["errors"][0]["message"]
    assert f"indicator {row['indicator_code']}" in problem["errors"][0]["message"]
    fine = {"object_id": world.objects["ns"], "indicator_code": "E4", "target": "5"}
    bulk = await api.call("POST", f"/plans/{plan['id']}/targets/bulk", json=[fine, {"object_id": obj, **row}])
    problem = assert_problem(bulk, 422, "target")
    assert [(e["row"], message in e["message"]) for e in problem["errors"]] == [(2, True)]
    assert (await api.ok("GET", f"/plans/{plan['id']}/targets"))["items"] == []


async def test_targets_the_contract_can_score_are_stored(api: Api, world: World):
    plan = await contract_plan(api, world)
    rows = [
        {"object_id": world.objects["ft"], "indicator_code": "E4", "target": "19.5"},
        {"object_id": world.objects["ft"], "indicator_code": "E5", "target": "12", "baseline": "10"},
        {"object_id": world.objects["ft"], "indicator_code": "S1", "target": "100"},
    ]
    assert (await api.ok("POST", f"/plans/{plan['id']}/targets/bulk", json=rows))["written"] == 3


async def test_values_a_leaf_cannot_score_are_refused_by_row_singly_and_in_bulk(api: Api, world: World):
    await contract_plan(api, world)
    county = api.as_("department", "/gd/sz/ft", "clerk-ft")
    obj = world.objects["ft"]
    for metric, value, message in (
        ("S1", "100.01", "leaf S1 is a satisfaction index: it lies in [0, 100]"),
        ("S1", "-0.5", "leaf S1 is a satisfaction index: it lies in [0, 100]"),
        ("B1", "2.5", "leaf B1 counts bonus items: a whole number of at least 0"),
        ("B1", "-1", "leaf B1 counts bonus items: a whole number of at least 0"),
        ("D1", "0.1", "leaf D1 counts deduction items: a whole number of at least 0"),
    ):
        body = {"object_id": obj, "metric": metric, "period": "2026", "value": value}
        problem = assert_problem(await api.call("POST", "/data-points", json=body, headers=county), 422, "value")
        assert problem["errors"] == [{"row": 1, "field": "value", "message": message}]

    ns = world.objects["ns"]
    good = [
        (obj, "S1", "0"),
        (ns, "S1", "100"),
        (obj, "B1", "3"),
        (ns, "B1", "3.000"),
        (obj, "D1", "0"),
        (obj, "E4", "-7.5"),
    ]
    csv = "object_id,metric,period,value\n" + "".join(f"{o},{m},2026,{v}\n" for o, m, v in good)
    # 2025: no plan scores that period, so the index is not checked against a leaf there.
    bad = csv + f"{obj},S1,2025,150\n" + f"{ns},D1,2026,1.5\n"
    city_clerk = api.as_("department", "/gd/sz", "clerk-city")
    headers = city_clerk | {"Content-Type": "text/csv"}
    problem = assert_problem(await api.call("POST", "/data-points/bulk", content=bad, headers=headers), 422)
    assert [(e["row"], e["field"]) for e in problem["errors"]] == [(9, "value")]
    assert (await api.ok("GET", "/data-points", headers=api.office))["items"] == []
    r = await api.call("POST", "/data-points/bulk", content=csv, headers=headers)
    assert r.status_code == 200 and r.json()["submitted"] == len(good), r.text


@pytest.mark.parametrize(
    "raw",
    ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", '"NaN"', '"sNaN"', '"Infinity"', '"-inf"', '"1e999"'],
)
async def test_non_finite_numbers_are_refused_in_json(api: Api, world: World, raw: str):
    # Python's JSON reader accepts the bare NaN and Infinity literals and reads 1e999 as infinity;
    # pydantic refuses them all for a Decimal that does not allow inf/nan.
    county = api.as_("department", "/gd/sz/ft", "clerk-ft")
    obj = world.objects["ft"]
    body = f'{{"object_id": "{obj}", "metric": "E1", "period": "2026", "value": {raw}}}'
    headers = county | {"Content-Type": "application/json"}
    assert_problem(await api.call("POST", "/data-points", content=body, headers=headers), 422, "value")
    target = f'{{"object_id": "{obj}", "indicator_code": "E1", "target": {raw}}}'
    response = await api.call(
        "POST", f"/plans/{world.plan['id']}/targets", content=target, headers=api.office | headers
    )
    assert_problem(response, 422, "target")
    assert (await api.ok("GET", "/data-points", headers=api.office))["items"] == []


async def test_non_finite_numbers_are_refused_in_csv(api: Api, world: World):
    obj = world.objects["ft"]
    csv = "object_id,metric,period,value\n" + "".join(
        f"{obj},E1,2026,{v}\n" for v in ("NaN", "inf", "-Infinity", "1e999", "snan")
    )
    headers = api.as_("department", "/gd/sz/ft", "clerk-ft") | {"Content-Type": "text/csv"}
    problem = assert_problem(await api.call("POST", "/data-points/bulk", content=csv, headers=headers), 422)
    assert sorted((e["row"], e["field"]) for e in problem["errors"]) == [(n, "value") for n in range(2, 7)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE appraisal.data_point SET value = 'NaN'",
        "UPDATE appraisal.data_point SET value = 1e13",
        "UPDATE appraisal.target SET target = 'NaN'",
        "UPDATE appraisal.target SET baseline = 'NaN'",
        "UPDATE appraisal.target SET target = -1e13",
    ],
)
async def test_the_database_refuses_numbers_scoring_cannot_read(api: Api, world: World, statement: str):
    # Defence in depth beneath the API: a path that forgets the check still cannot store NaN.
    obj = world.objects["ft"]
    await api.submit("ft", obj, "12.5")
    await api.ok(
        "POST", f"/plans/{world.plan['id']}/targets", json={"object_id": obj, "indicator_code": "E1", "target": "5"}
    )
    with pytest.raises(DBAPIError, match="finite"):
        async with api.db.begin_nested():
            await api.db.execute(text(statement))
