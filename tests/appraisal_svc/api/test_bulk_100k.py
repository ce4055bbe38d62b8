"""A bulk submission of 100,000 rows is all or nothing: one bad row at the very end stores nothing,
the corrected file stores every row as a current revision."""

from sqlalchemy import text

from tests.appraisal_svc.api.support import Api, World, assert_problem

ROWS = 100_000
METRICS = ROWS // 10


async def test_100k_rows_all_or_nothing(api: Api, world: World):
    objects = list(world.objects.values())
    for i in range(10 - len(objects)):
        official = await api.ok(
            "POST",
            "/objects",
            201,
            json={"kind": "official", "org_unit_id": world.counties["ft"]["id"], "code": f"o{i}", "name": f"O{i}"},
        )
        objects.append(official["id"])
    lines = ["object_id,metric,period,value"]
    lines += [f"{objects[i % 10]},M{i // 10:05d},2026,{i % 997}.5" for i in range(ROWS)]
    good = "\n".join(lines) + "\n"
    bad = good[: good.rstrip("\n").rfind("\n") + 1] + f"{objects[9]},M{METRICS - 1:05d},2026,oops\n"
    clerk = {**api.as_("department", "/gd/sz", "clerk-city"), "Content-Type": "text/csv"}
    r = await api.call("POST", "/data-points/bulk", content=bad.encode(), headers=clerk)
    body = assert_problem(r, 422)
    assert body["errors"] == [{"row": ROWS + 1, "field": "value", "message": body["errors"][0]["message"]}]
    assert await api.db.scalar(text("SELECT count(*) FROM appraisal.data_point")) == 0
    r = await api.call("POST", "/data-points/bulk", content=good.encode(), headers=clerk)
    assert r.status_code == 200, r.text[:500]
    assert r.json()["submitted"] == ROWS
    counts = (
        await api.db.execute(
            text("SELECT count(*) AS n, count(*) FILTER (WHERE current) AS c FROM appraisal.data_point")
        )
    ).one()
    assert (counts.n, counts.c) == (ROWS, ROWS)
