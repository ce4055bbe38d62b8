"""Each anomaly rule on constructed data, when data arrives and on demand for a whole plan; the
set-based SQL agrees with the reference functions of collection/logic.py."""

import datetime as dt
import random

from sqlalchemy import text

from services.appraisal_svc.collection.logic import is_peer_outlier
from tests.appraisal_svc.api.support import COUNTIES, Api, World


async def flags(api: Api, rule: str) -> dict[str, dict]:
    """data point id -> open flag details for ``rule``."""
    rows = await api.db.execute(
        text("SELECT data_point_id, details FROM appraisal.data_flag WHERE rule = :r AND status = 'open'"), {"r": rule}
    )
    return {str(r.data_point_id): r.details for r in rows}


async def submit_all(
    api: Api, world: World, values: list[str], metric: str = "E1", period: str = "2026"
) -> dict[str, str]:
    """county -> data point id."""
    return {
        c: (await api.submit(c, world.objects[c], v, metric=metric, period=period))["id"]
        for c, v in zip(COUNTIES, values, strict=True)
    }


async def test_a_planted_outlier_is_flagged_against_its_peers(api: Api, world: World):
    ids = await submit_all(api, world, ["100", "102", "98", "101", "99", "500"])
    found = await flags(api, "robust_z")
    assert set(found) == {ids["yt"]}
    details = found[ids["yt"]]
    assert details["peer_median"] == 100.5 and details["peers"] == 6 and details["peer_group"] == "county"
    assert details["z"] > 3.5 and details["threshold"] == 3.5 and details["value"] == 500
    point = await api.ok("GET", f"/data-points/{ids['yt']}")
    assert [f["rule"] for f in point["flags"]] == ["robust_z"]


async def test_mad_zero_falls_back_to_the_mean_absolute_deviation_and_identical_peers_flag_nothing(
    api: Api, world: World
):
    ids = await submit_all(api, world, ["100", "100", "100", "100", "100", "130"])
    found = await flags(api, "robust_z")
    assert set(found) == {ids["yt"]} and found[ids["yt"]]["mad"] == 0
    await submit_all(api, world, ["7"] * 6, metric="E2")
    assert set(await flags(api, "robust_z")) == {ids["yt"]}


async def test_a_jump_against_the_own_history_is_flagged(api: Api, world: World):
    ft = world.objects["ft"]
    await api.submit("ft", ft, "1000", period="2025")
    steady = await api.submit("ft", ft, "1200", period="2026")
    assert await flags(api, "history") == {}
    await api.submit("ns", world.objects["ns"], "1000", period="2025")
    jump = await api.submit("ns", world.objects["ns"], "2100", period="2026")
    found = await flags(api, "history")
    assert set(found) == {jump["id"]} and steady["id"] not in found
    assert found[jump["id"]]["previous_value"] == 1000 and found[jump["id"]]["previous_period"] == "2025"
    assert found[jump["id"]]["relative_change"] == 1.1


async def test_disagreement_with_the_authoritative_value_is_flagged(api: Api, world: World):
    ft = world.objects["ft"]
    bureau = api.as_("federation", "/gd/sz", "statistics-bureau")
    await api.ok(
        "POST",
        "/data-points",
        201,
        headers=bureau,
        json={"object_id": ft, "metric": "E1", "period": "2026", "value": "1000", "source": "authoritative"},
    )
    close = await api.submit("ns", world.objects["ns"], "1000")
    far = await api.submit("ft", ft, "1100")
    found = await flags(api, "authoritative")
    assert set(found) == {far["id"]} and close["id"] not in found
    assert found[far["id"]]["authoritative_value"] == 1000 and found[far["id"]]["relative_difference"] == 0.1


async def test_late_submission_is_flagged_on_arrival_and_by_an_on_demand_plan_scan(api: Api, world: World):
    plan_id = world.plan["id"]
    early = await api.submit("ft", world.objects["ft"], "96", metric="E2")  # the plan is a draft: nothing is late yet
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    await api.ok(
        "PATCH",
        f"/plans/{plan_id}",
        headers={**api.office, "If-Match": '"1"'},
        json={"submission_deadline": past, "verification_deadline": past},
    )
    await api.collecting(world)
    late = await api.submit("ns", world.objects["ns"], "1000")
    assert set(await flags(api, "late")) == {late["id"]}
    scan = await api.ok("POST", f"/plans/{plan_id}/anomaly-scans")
    assert scan == {"keys": 4, "flags_raised": 1}
    found = await flags(api, "late")
    assert set(found) == {late["id"], early["id"]} and found[early["id"]]["plan_id"] == plan_id
    assert (await api.ok("POST", f"/plans/{plan_id}/anomaly-scans"))["flags_raised"] == 0  # idempotent
    flagged = await api.ok("GET", "/data-points", params={"flagged": "true"})
    assert {p["id"] for p in flagged["items"]} == {late["id"], early["id"]}


async def test_the_sql_robust_z_flags_exactly_what_the_reference_flags(api: Api, world: World):
    rng = random.Random(20261128)
    extra = []
    for i in range(40):
        official = await api.ok(
            "POST",
            "/objects",
            201,
            json={
                "kind": "official",
                "org_unit_id": world.counties[COUNTIES[i % 6]]["id"],
                "code": f"o{i}",
                "name": f"Official {i}",
            },
        )
        extra.append(official["id"])
    values = {o: round(rng.lognormvariate(3, 0.4), 2) for o in extra}
    for o in rng.sample(extra, 4):
        values[o] *= rng.choice([0.05, 8])
    rows = [{"object_id": o, "metric": "E9", "period": "2026", "value": str(round(v, 2))} for o, v in values.items()]
    result = await api.ok("POST", "/data-points/bulk", json=rows, headers=api.as_("department", "/gd/sz", "clerk-city"))
    points = (await api.ok("GET", "/data-points", params={"metric": "E9", "limit": 500}))["items"]
    by_object = {p["object_id"]: p["id"] for p in points}
    peers = [float(p["value"]) for p in points]
    expected = {
        by_object[o] for o in extra if is_peer_outlier(float(round(values[o], 2)), peers, threshold=3.5, min_peers=5)
    }
    assert set(await flags(api, "robust_z")) == expected and result["flags_raised"] == len(expected) > 0
