"""Plans bind a received framework version, move only along their state machine, and open for
collection only with every target approved; targets are checked against their leaf's scoring rule."""

import uuid

import pytest
from sqlalchemy import text

from services.appraisal_svc.plan.logic import TRANSITIONS
from tests.appraisal_svc.api.support import Api, World, assert_problem

STATES = ["draft", "targets_open", "collecting", "scoring", "published", "nonsense"]


async def test_a_plan_on_a_version_that_has_not_arrived_is_a_409_that_says_so(api: Api, world: World):
    body = api.plan_body(world.city["id"], world.cycle_id, str(uuid.uuid4()), list(world.objects.values()))
    body_problem = assert_problem(await api.call("POST", "/plans", json=body), 409)
    assert "has not arrived" in body_problem["detail"]
    body = api.plan_body(world.city["id"], world.cycle_id, world.framework_id, [], framework_hash="0" * 64)
    assert_problem(await api.call("POST", "/plans", json=body), 409)
    assert world.plan["framework_hash"] == world.framework_hash


async def test_plan_inputs_are_checked(api: Api, world: World):
    def body(**fields):
        return api.plan_body(world.city["id"], world.cycle_id, world.framework_id, [], **fields)

    assert_problem(
        await api.call(
            "POST",
            "/plans",
            json=body(subject_weights={"performance_office": "0.5", "public": "0.3", "experts": "0.1"}),
        ),
        422,
        "subject_weights",
    )
    assert_problem(
        await api.call("POST", "/plans", json=body(subject_weights={"performance_office": "0.7", "public": "0.3"})),
        422,
        "subject_weights",
    )
    grades = {
        "grades": [{"grade": "A", "min_score": 60}, {"grade": "B", "min_score": 80}, {"grade": "C", "min_score": 0}]
    }
    assert_problem(await api.call("POST", "/plans", json=body(grade_scheme=grades)), 422, "grade_scheme.grades")
    assert_problem(await api.call("POST", "/plans", json=body(missing_rule="guess")), 422, "missing_rule")
    assert_problem(await api.call("POST", "/plans", json=body(surprise=1)), 422, "surprise")
    stranger = await api.ok(
        "POST", "/org-units", 201, headers=api.admin, json={"code": "zz", "name": "ZZ", "kind": "province"}
    )
    other = await api.ok(
        "POST", "/objects", 201, headers=api.admin, json={"kind": "government", "org_unit_id": stranger["id"]}
    )
    assert_problem(
        await api.call("POST", "/plans", json=body(objects=[{"object_id": other["id"]}])), 422, "objects.0.object_id"
    )


@pytest.mark.parametrize("start", ["draft", "targets_open", "collecting"])
async def test_every_illegal_transition_is_a_409_naming_the_allowed_ones(api: Api, world: World, start: str):
    plan_id = world.plan["id"]
    if start != "draft":
        await api.db.execute(text("UPDATE appraisal.plan SET status = :s WHERE id = :id"), {"s": start, "id": plan_id})
        await api.db.commit()  # a refused request rolls back to here, not before the update
    for to in STATES:
        if to in TRANSITIONS[start]:
            continue
        r = await api.transition(plan_id, to)
        assert r.status_code == 409, (to, r.text)
        body = assert_problem(r, 409, "to")
        assert "allowed" in body["detail"]
    plan = await api.ok("GET", f"/plans/{plan_id}")
    assert plan["status"] == start and plan["allowed_transitions"] == list(TRANSITIONS[start])


async def test_collecting_needs_every_target_approved_and_announces_the_plan(api: Api, world: World):
    plan_id = world.plan["id"]
    assert (await api.transition(plan_id, "targets_open")).status_code == 200
    body = assert_problem(await api.transition(plan_id, "collecting"), 409, "targets")
    assert "12 missing" in body["detail"]
    await api.approved_targets(world)
    r = await api.transition(plan_id, "collecting")
    assert r.status_code == 200 and r.json()["status"] == "collecting" and r.json()["opened_at"]
    events = (
        await api.db.execute(
            text("SELECT envelope FROM appraisal.outbox WHERE envelope->>'type' = 'appraisal.plan.opened'")
        )
    ).all()
    assert len(events) == 1
    data = events[0].envelope["data"]
    assert (
        data["plan_id"] == plan_id
        and data["cycle_label"] == "2026"
        and sorted(data["object_ids"]) == sorted(world.objects.values())
    )
    assert_problem(
        await api.call("PATCH", f"/plans/{plan_id}", headers={**api.office, "If-Match": '"3"'}, json={"name": "x"}), 409
    )


async def test_only_the_owner_office_runs_a_plan_and_a_county_sees_it_but_not_others_targets(api: Api, world: World):
    plan_id = world.plan["id"]
    county_office = api.as_("perf_office", "/gd/sz/ft")
    assert_problem(await api.transition(plan_id, "targets_open", headers=county_office), 403)
    assert_problem(await api.transition(plan_id, "targets_open", headers=api.as_("audit")), 403)
    seen = await api.ok("GET", f"/plans/{plan_id}", headers=county_office)
    assert seen["id"] == plan_id
    assert_problem(await api.call("GET", f"/plans/{plan_id}", headers=api.as_("perf_office", "/gd/gz")), 404)
    assert (await api.transition(plan_id, "targets_open")).status_code == 200
    await api.approved_targets(world)
    mine = await api.ok("GET", f"/plans/{plan_id}/targets", headers=county_office)
    assert {t["object_id"] for t in mine["items"]} == {world.objects["ft"]}
    objects = await api.ok("GET", f"/plans/{plan_id}/objects", headers=county_office)
    assert [o["object_id"] for o in objects["items"]] == [world.objects["ft"]]


@pytest.mark.parametrize(
    ("code", "target", "fragment"),
    [
        ("E1", "0", "must be positive"),
        ("E2", "50", "differ from the floor"),
        ("E2", "40", "above the floor"),
        ("E3", "45", "outside the bands"),
        ("E1", "NaN", None),
        ("E1", "Infinity", None),
    ],
)
async def test_a_target_its_rule_cannot_score_is_refused_naming_object_and_indicator(
    api: Api, world: World, code, target, fragment
):
    obj = world.objects["ft"]
    r = await api.call(
        "POST", f"/plans/{world.plan['id']}/targets", json={"object_id": obj, "indicator_code": code, "target": target}
    )
    body = assert_problem(r, 422, "target")
    if fragment:
        assert fragment in body["detail"] and obj in body["detail"] and code in body["detail"]


async def test_bulk_targets_are_all_or_nothing_with_row_errors(api: Api, world: World):
    plan_id = world.plan["id"]
    csv = "object_id,indicator_code,target,baseline\n"
    csv += "".join(f"{o},E1,100,90\n" for o in world.objects.values())
    csv += f"{world.objects['ft']},E9,100,\n"  # no such leaf
    csv += f"{world.objects['ns']},E2,50,\n"  # equals the floor
    csv += f"{world.objects['lh']},E2,abc,\n"  # not a number
    r = await api.call(
        "POST", f"/plans/{plan_id}/targets/bulk", headers={**api.office, "Content-Type": "text/csv"}, content=csv
    )
    body = assert_problem(r, 422)
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(10, "target")}
    csv = csv.replace(f"{world.objects['lh']},E2,abc,\n", "")
    r = await api.call(
        "POST", f"/plans/{plan_id}/targets/bulk", headers={**api.office, "Content-Type": "text/csv"}, content=csv
    )
    body = assert_problem(r, 422)
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(8, "indicator_code"), (9, "target")}
    assert (await api.ok("GET", f"/plans/{plan_id}/targets"))["items"] == []


async def test_cascade_splits_by_share_or_equally_and_sums_exactly(api: Api, world: World):
    plan_id = world.plan["id"]
    city_obj = await api.ok("POST", "/objects", 201, json={"kind": "government", "org_unit_id": world.city["id"]})
    await api.ok(
        "PATCH",
        f"/plans/{plan_id}",
        headers={**api.office, "If-Match": '"1"'},
        json={"objects": [{"object_id": o} for o in [city_obj["id"], *world.objects.values()]]},
    )
    await api.ok(
        "POST",
        f"/plans/{plan_id}/targets",
        json={"object_id": city_obj["id"], "indicator_code": "E1", "target": "1000"},
    )
    three = [world.objects[c] for c in ("ft", "ns", "lh")]
    equal = await api.ok(
        "POST",
        f"/plans/{plan_id}/targets/cascade",
        json={
            "from_object_id": city_obj["id"],
            "indicator_code": "E1",
            "mode": "equal",
            "children": [{"object_id": o} for o in three],
        },
    )
    values = sorted(float(t["target"]) for t in equal)
    assert sum(float(t["target"]) for t in equal) == 1000 and values[0] == 333.333333
    shares = await api.ok(
        "POST",
        f"/plans/{plan_id}/targets/cascade",
        json={
            "from_object_id": city_obj["id"],
            "indicator_code": "E1",
            "mode": "share",
            "children": [
                {"object_id": three[0], "share": "0.5"},
                {"object_id": three[1], "share": "0.3"},
                {"object_id": three[2], "share": "0.2"},
            ],
        },
    )
    assert [t["target"] for t in sorted(shares, key=lambda t: three.index(t["object_id"]))] == ["500", "300", "200"]
    await api.ok(
        "POST", f"/plans/{plan_id}/targets", json={"object_id": city_obj["id"], "indicator_code": "E2", "target": "90"}
    )
    r = await api.call(
        "POST",
        f"/plans/{plan_id}/targets/cascade",
        json={
            "from_object_id": city_obj["id"],
            "indicator_code": "E2",
            "mode": "equal",
            "children": [{"object_id": o} for o in three],
        },
    )
    assert_problem(r, 422, "mode")  # a rate does not add up: copy it instead
    copied = await api.ok(
        "POST",
        f"/plans/{plan_id}/targets/cascade",
        json={
            "from_object_id": city_obj["id"],
            "indicator_code": "E2",
            "mode": "copy",
            "children": [{"object_id": o} for o in three],
        },
    )
    assert {t["target"] for t in copied} == {"90"}
    r = await api.call(
        "POST",
        f"/plans/{plan_id}/targets/cascade",
        json={
            "from_object_id": three[0],
            "indicator_code": "E1",
            "mode": "copy",
            "children": [{"object_id": three[1]}],
        },
    )
    assert_problem(r, 422, "children.0.object_id")  # a county cannot cascade to its neighbour


async def test_departments_confirm_the_office_approves_and_amendments_keep_the_old_value(api: Api, world: World):
    plan_id = world.plan["id"]
    target = await api.ok(
        "POST",
        f"/plans/{plan_id}/targets",
        json={"object_id": world.objects["ft"], "indicator_code": "E1", "target": "100"},
    )
    r = await api.call("POST", f"/plans/{plan_id}/targets/approvals", json={"ids": [target["id"]]})
    assert_problem(r, 409)  # not confirmed yet
    r = await api.call(
        "POST",
        f"/plans/{plan_id}/targets/confirmations",
        json={"ids": [target["id"]]},
        headers=api.as_("department", "/gd/sz/ns"),
    )
    assert_problem(r, 404)  # another county's target is not there for you
    await api.ok(
        "POST",
        f"/plans/{plan_id}/targets/confirmations",
        json={"ids": [target["id"]]},
        headers=api.as_("department", "/gd/sz/ft"),
    )
    r = await api.call(
        "POST",
        f"/plans/{plan_id}/targets/approvals",
        json={"ids": [target["id"]]},
        headers=api.as_("department", "/gd/sz/ft"),
    )
    assert_problem(r, 403)
    approved = (await api.ok("POST", f"/plans/{plan_id}/targets/approvals", json={"ids": [target["id"]]}))[0]
    assert approved["status"] == "approved" and approved["approved_by"] == "office-sz"
    r = await api.call(
        "POST",
        f"/plans/{plan_id}/targets",
        json={"object_id": world.objects["ft"], "indicator_code": "E1", "target": "120"},
    )
    assert_problem(r, 409, "target")
    r = await api.call(
        "PATCH",
        f"/plans/{plan_id}/targets/{target['id']}",
        headers={**api.office, "If-Match": f'"{approved["lock_version"]}"'},
        json={"target": "120"},
    )
    assert_problem(r, 422, "reason")
    amended = await api.ok(
        "PATCH",
        f"/plans/{plan_id}/targets/{target['id']}",
        headers={**api.office, "If-Match": f'"{approved["lock_version"]}"'},
        json={"target": "120", "reason": "flood relief moved 20 jobs here"},
    )
    assert amended["target"] == "120" and amended["amendments"][0]["old_target"] == "100"
    assert amended["amendments"][0]["reason"] == "flood relief moved 20 jobs here"
