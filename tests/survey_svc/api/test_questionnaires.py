"""Questionnaire versions over HTTP: idempotent create, If-Match on changes, frozen once published
(also in the database), one open draft per lineage, scope, XLSForm import errors and export."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.survey_svc.questionnaire import xlsform
from tests.survey_svc.support import CONTENT, ORG_UNIT, SZ, assert_problem
from tests.survey_svc.unit.test_questionnaire import workbook

BASE = "/api/v1/questionnaires"


def body(code: str = "Q-1", **fields) -> dict:
    return {"code": code, "org_unit_id": ORG_UNIT, "org_path": SZ, "content": CONTENT, **fields}


async def test_create_is_idempotent_and_changes_need_the_current_etag(api, client) -> None:
    headers = {**api.office, "Idempotency-Key": "create-q-1"}
    first = await client.post(BASE, json=body(), headers=headers)
    again = await client.post(BASE, json=body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    qid, etag = first.json()["id"], first.headers["ETag"]
    changed = {"content": {**CONTENT, "title": "Renamed"}}
    assert_problem(await client.patch(f"{BASE}/{qid}", json=changed, headers=api.office), 428, "If-Match")
    stale = await client.patch(f"{BASE}/{qid}", json=changed, headers={**api.office, "If-Match": '"7"'})
    assert_problem(stale, 412)
    ok = await client.patch(f"{BASE}/{qid}", json=changed, headers={**api.office, "If-Match": etag})
    assert ok.status_code == 200 and ok.json()["content"]["title"] == "Renamed" and ok.headers["ETag"] != etag


async def test_published_versions_are_frozen_and_change_means_a_new_version(api, client, db) -> None:
    created = await client.post(BASE, json=body("Q-2"), headers=api.office)
    qid = created.json()["id"]
    published = await client.post(f"{BASE}/{qid}/publish", headers={**api.office, "If-Match": created.headers["ETag"]})
    assert published.status_code == 200 and len(published.json()["content_hash"]) == 64
    late = await client.patch(
        f"{BASE}/{qid}", json={"content": CONTENT}, headers={**api.office, "If-Match": published.headers["ETag"]}
    )
    assert_problem(late, 409)
    with pytest.raises(DBAPIError, match="immutable"):
        async with db.begin_nested():
            await db.execute(text("UPDATE survey.questionnaire SET content = '{}' WHERE id = :q"), {"q": qid})
    v2 = await client.post(f"{BASE}/{qid}/versions", headers=api.office)
    assert v2.status_code == 201 and v2.json()["version"] == 2 and v2.json()["previous_version_id"] == qid
    assert_problem(await client.post(f"{BASE}/{qid}/versions", headers=api.office), 409)  # one open draft


async def test_drafts_stay_in_scope_and_published_ones_are_readable(api, client, auth) -> None:
    created = await client.post(BASE, json=body("Q-3"), headers=api.office)
    qid = created.json()["id"]
    other_city = auth("perf_office", org_path="/gd/gz")
    assert_problem(await client.get(f"{BASE}/{qid}", headers=other_city), 404)
    assert_problem(await client.post(BASE, json=body("Q-4", org_path="/gd/gz"), headers=api.office), 403)
    assert_problem(await client.post(BASE, json=body("Q-5"), headers=auth("investigator", org_path=SZ)), 403)
    await client.post(f"{BASE}/{qid}/publish", headers={**api.office, "If-Match": created.headers["ETag"]})
    assert (await client.get(f"{BASE}/{qid}", headers=other_city)).status_code == 200


async def test_xlsform_errors_name_the_cell_and_export_round_trips(api, client) -> None:
    broken = workbook([("type", "name", "label", "required"), ("select_one likert5", "q1", "Roads", "maybe")])
    r = await client.post(
        f"{BASE}/import",
        params={"code": "Q-6", "org_unit_id": ORG_UNIT, "org_path": SZ},
        content=broken,
        headers=api.office,
    )
    assert_problem(r, 422, "survey!D2")
    assert_problem(
        await client.post(
            f"{BASE}/import",
            params={"code": "Q-7", "org_unit_id": ORG_UNIT, "org_path": SZ},
            content=b"x" * 100,
            headers=api.office,
        ),
        422,
    )
    questionnaire = await api.questionnaire()
    exported = await client.get(f"{BASE}/{questionnaire['id']}/export", headers=api.office)
    assert exported.status_code == 200
    assert xlsform.from_xlsx(exported.content).model_dump() == questionnaire["content"]
