"""Data collection: a value is submitted once, verified by a second person from outside the
submitting unit, accepted (locked) or rejected and resubmitted as a new revision; flags block
acceptance; evidence is content-addressed; bulk files are all or nothing."""

import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.appraisal_svc.api.support import Api, World, assert_problem


def verifier(api: Api, org_path: str = "/gd/sz", name: str = "verifier-city"):
    return api.as_("verifier", org_path, name)


async def move(api: Api, point_id: str, to: str, headers, reason: str | None = None):
    body = {"to": to} | ({"reason": reason} if reason else {})
    return await api.call("POST", f"/data-points/{point_id}/transitions", headers=headers, json=body)


async def test_the_four_eyes_rule(api: Api, world: World):
    point = await api.submit("ft", world.objects["ft"], "1000")
    assert point["status"] == "submitted" and point["revision"] == 1
    same_person = api.as_("verifier", "/gd/sz/ft", "clerk-ft")  # the submitter also holds the verifier role
    assert_problem(await move(api, point["id"], "verified", same_person), 403)
    colleague = api.as_("verifier", "/gd/sz/ft", "colleague-ft")
    assert_problem(await move(api, point["id"], "verified", colleague), 403)
    neighbour = api.as_("verifier", "/gd/sz/ns", "ns-verifier")
    assert_problem(await move(api, point["id"], "verified", neighbour), 404)  # not in its scope
    assert_problem(await move(api, point["id"], "verified", api.office), 403)  # wrong role
    assert_problem(await move(api, point["id"], "accepted", api.office), 409)  # not verified yet
    r = await move(api, point["id"], "verified", verifier(api))
    assert r.status_code == 200 and r.json()["verified_by"] == "verifier-city"
    r = await move(api, point["id"], "accepted", api.office)
    assert r.status_code == 200 and r.json()["status"] == "accepted"


async def test_rejected_then_resubmitted_as_a_new_revision_and_every_revision_kept(api: Api, world: World):
    obj = world.objects["ft"]
    first = await api.submit("ft", obj, "1000")
    assert_problem(await move(api, first["id"], "rejected", verifier(api)), 422, "reason")
    r = await move(api, first["id"], "rejected", verifier(api), reason="the statistics bureau says 900")
    assert r.json()["status"] == "rejected" and r.json()["reject_reason"] == "the statistics bureau says 900"
    second = await api.submit("ft", obj, "900")
    assert second["revision"] == 2 and second["current"]
    assert [(rev["revision"], rev["status"], rev["current"]) for rev in second["revisions"]] == [
        (1, "rejected", False),
        (2, "submitted", True),
    ]
    assert_problem(await move(api, first["id"], "verified", verifier(api)), 409)  # an old revision is history


async def test_an_accepted_value_is_locked_and_a_correction_goes_through_verification_again(api: Api, world: World):
    obj = world.objects["ft"]
    point = await api.submit("ft", obj, "1000")
    await move(api, point["id"], "verified", verifier(api))
    await move(api, point["id"], "accepted", api.office)
    with pytest.raises(DBAPIError, match="locked"):
        async with api.db.begin_nested():
            await api.db.execute(text("UPDATE appraisal.data_point SET value = 1 WHERE id = :id"), {"id": point["id"]})
    correction = await api.submit("ft", obj, "1010", notes="late invoice")
    assert correction["status"] == "submitted" and correction["revision"] == 2
    assert [(r["status"], r["current"]) for r in correction["revisions"]] == [("accepted", False), ("submitted", True)]


async def test_a_flag_blocks_acceptance_until_resolved_with_a_note(api: Api, world: World):
    point = await api.submit("ft", world.objects["ft"], "1000")
    await move(api, point["id"], "verified", verifier(api))
    assert_problem(
        await api.call("POST", f"/data-points/{point['id']}/flags", json={"note": "x"}, headers=api.office), 403
    )
    auditor = api.as_("audit", "/gd/sz", "auditor")
    flag = await api.ok(
        "POST", f"/data-points/{point['id']}/flags", 201, json={"note": "invoice dates look odd"}, headers=auditor
    )
    assert flag["rule"] == "manual" and flag["status"] == "open"
    assert "open flag" in assert_problem(await move(api, point["id"], "accepted", api.office), 409)["detail"]
    assert_problem(await api.call("POST", f"/flags/{flag['id']}/resolution", json={}, headers=auditor), 422, "note")
    resolved = await api.ok(
        "POST", f"/flags/{flag['id']}/resolution", json={"note": "checked against the ledger"}, headers=api.office
    )
    assert resolved["status"] == "resolved" and resolved["resolution_note"] == "checked against the ledger"
    assert (await move(api, point["id"], "accepted", api.office)).status_code == 200


async def test_input_is_hostile_until_validated(api: Api, world: World):
    obj = world.objects["ft"]
    county = api.as_("department", "/gd/sz/ft", "clerk-ft")
    for bad in (
        {"value": "NaN"},
        {"value": "Infinity"},
        {"value": "1e400"},
        {"period": "2026-13"},
        {"metric": "../x"},
        {"extra": 1},
    ):
        body = {"object_id": obj, "metric": "E1", "period": "2026", "value": "1", **bad}
        r = await api.call("POST", "/data-points", json=body, headers=county)
        assert r.status_code == 422, (bad, r.text)
    r = await api.call(
        "POST",
        "/data-points",
        json={"object_id": world.objects["ns"], "metric": "E1", "period": "2026", "value": "1"},
        headers=county,
    )
    assert_problem(r, 422, "object_id")  # another county's object: as if it did not exist
    r = await api.call(
        "POST",
        "/data-points",
        json={"object_id": obj, "metric": "E1", "period": "2026", "value": "1", "source": "authoritative"},
        headers=county,
    )
    assert_problem(r, 403)
    bureau = api.as_("federation", "/gd/sz", "statistics-bureau")
    r = await api.call(
        "POST",
        "/data-points",
        json={"object_id": obj, "metric": "E1", "period": "2026", "value": "1", "source": "authoritative"},
        headers=bureau,
    )
    assert r.status_code == 201 and r.json()["source"] == "authoritative"


async def test_evidence_is_stored_under_its_hash_checked_and_cited(api: Api, world: World):
    county = api.as_("department", "/gd/sz/ft", "clerk-ft")
    pdf = b"%PDF-1.4 minutes of the employment office"
    r = await api.call(
        "POST",
        "/evidence",
        params={"name": "minutes.pdf"},
        content=pdf,
        headers={**county, "Content-Type": "application/pdf"},
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "name": "minutes.pdf",
        "size": len(pdf),
        "media_type": "application/pdf",
    }
    sha = r.json()["sha256"]
    r = await api.call(
        "POST",
        "/evidence",
        params={"name": "x.pdf"},
        content=b"MZ\x90 executable",
        headers={**county, "Content-Type": "application/pdf"},
    )
    assert_problem(r, 415)
    r = await api.call(
        "POST",
        "/evidence",
        params={"name": "big.pdf"},
        content=b"%PDF-" + b"0" * 70_000,
        headers={**county, "Content-Type": "application/pdf"},
    )
    assert_problem(r, 413)
    point = await api.submit("ft", world.objects["ft"], "1000", evidence_sha256=sha)
    assert point["evidence"] == {
        "sha256": sha,
        "name": "minutes.pdf",
        "size": len(pdf),
        "media_type": "application/pdf",
    }
    r = await api.call("GET", f"/evidence/{sha}", headers=verifier(api))
    assert r.status_code == 200 and r.content == pdf
    assert_problem(await api.call("GET", f"/evidence/{sha}", headers=api.as_("verifier", "/gd/sz/ns")), 404)
    r = await api.call(
        "POST",
        "/data-points",
        json={
            "object_id": world.objects["ft"],
            "metric": "E2",
            "period": "2026",
            "value": "1",
            "evidence_sha256": "a" * 64,
        },
        headers=county,
    )
    assert_problem(r, 422, "evidence_sha256")


async def test_a_bulk_file_with_one_bad_row_stores_nothing(api: Api, world: World):
    county_paths = {c: f"/gd/sz/{c}" for c in world.objects}
    city_clerk = api.as_("department", "/gd/sz", "clerk-city")
    csv = "object_id,metric,period,value\n" + "".join(
        f"{o},E1,2026,{100 + i}\n" for i, o in enumerate(world.objects.values())
    )
    bad = csv + f"{world.objects['ft']},E2,2026,12.5.3\n" + f"{world.objects['ft']},E1,2026,5\n"
    r = await api.call("POST", "/data-points/bulk", content=bad, headers={**city_clerk, "Content-Type": "text/csv"})
    body = assert_problem(r, 422)
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(8, "value")}
    r = await api.call(
        "POST",
        "/data-points/bulk",
        content=csv + f"{world.objects['ft']},E1,2026,5\n",
        headers={**city_clerk, "Content-Type": "text/csv"},
    )
    body = assert_problem(r, 422)
    assert {(e["row"], e["field"]) for e in body["errors"]} == {(2, "metric"), (8, "metric")}
    assert (await api.ok("GET", "/data-points", headers=api.office))["items"] == []
    r = await api.call("POST", "/data-points/bulk", content=csv, headers={**city_clerk, "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["submitted"] == 6
    listed = await api.ok("GET", "/data-points", headers=api.office, params={"metric": "E1"})
    assert len(listed["items"]) == 6 and county_paths


async def test_collection_status_per_object(api: Api, world: World):
    await api.collecting(world)
    ft, ns = world.objects["ft"], world.objects["ns"]
    point = await api.submit("ft", ft, "1000")
    await api.submit("ft", ft, "96", metric="E2")
    await move(api, point["id"], "verified", verifier(api))
    await move(api, point["id"], "accepted", api.office)
    report = await api.ok("GET", f"/plans/{world.plan['id']}/collection")
    rows = {r["object_id"]: r for r in report["items"]}
    assert report["period"] == "2026"
    # Expected: E1, E2, E3 and S1 (the expert-rated Q1 is not submitted data).
    assert rows[ft] | {} == rows[ft] and (
        rows[ft]["expected"],
        rows[ft]["accepted"],
        rows[ft]["submitted"],
        rows[ft]["missing"],
    ) == (4, 1, 1, 2)
    assert rows[ft]["completeness"] == "0.25" and rows[ft]["timeliness"] == "1"
    assert (rows[ns]["missing"], rows[ns]["timeliness"]) == (4, None)
    mine = await api.ok("GET", f"/plans/{world.plan['id']}/collection", headers=api.as_("department", "/gd/sz/ns"))
    assert [r["object_id"] for r in mine["items"]] == [ns]
