"""Anonymity, the tamper-evident chain, append-only rows, investigators' quotas, the plain HTML
respondent page, and who may do what."""

import re
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.survey_svc.response.service import seal_pending
from tests.survey_svc.support import GRID, OBJECT_A, SZ, assert_problem, good_answers


class SealerCrashed(Exception):
    pass


async def test_anonymous_responses_cannot_be_joined_to_their_tokens(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    assert (await api.submit(token)).status_code == 201
    response = (
        (await db.execute(text("SELECT * FROM survey.response WHERE campaign_id = :c"), {"c": campaign["id"]}))
        .mappings()
        .one()
    )
    spent = (
        (await db.execute(text("SELECT * FROM survey.respondent_token WHERE campaign_id = :c"), {"c": campaign["id"]}))
        .mappings()
        .one()
    )
    assert spent["spent"] and spent["spent_at"] is None  # no moment of spending to match
    assert response["token_hash"] is None and response["received_at"] is None  # the day only
    assert response["id"].version == 4  # random, not a time-ordered UUIDv7
    shared_values = {str(v) for v in spent.values() if v is not None} & {
        str(v) for v in response.values() if v is not None
    }
    # Only what a whole cell shares (campaign, group, region, object) is common to both rows.
    assert shared_values <= {campaign["id"], "urban_residents", "ft", OBJECT_A, "True"}


async def test_identified_campaigns_keep_the_link(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork(anonymous=False)
    [token] = await api.tokens(campaign["id"], 1)
    assert (await api.submit(token)).status_code == 201
    linked = await db.scalar(
        text(
            "SELECT count(*) FROM survey.response r JOIN survey.respondent_token t USING (token_hash) "
            "WHERE r.campaign_id = :c AND t.spent_at IS NOT NULL AND r.received_at IS NOT NULL"
        ),
        {"c": campaign["id"]},
    )
    assert linked == 1


async def test_responses_are_append_only_and_the_log_detects_an_edit(api, client, db, auth) -> None:
    campaign = await api.campaign_in_fieldwork()
    cid = campaign["id"]
    receipts = [(await api.submit(token)).json()["receipt"] for token in await api.tokens(cid, 3)]
    auditor = auth("audit", org_path=SZ)
    report = (await client.get(f"/api/v1/campaigns/{cid}/integrity", headers=auditor)).json()
    assert report["responses"]["unsealed"] == 3 and report["tokens"] == {"issued": 3, "spent": 3}
    await api.move(cid, "closed")  # closing seals whatever the periodic sealer has not reached
    report = (await client.get(f"/api/v1/campaigns/{cid}/integrity", headers=auditor)).json()
    assert report["intact"] and report["responses"]["sealed"] == 3 and report["responses"]["unsealed"] == 0
    sealed = await db.scalar(
        text("SELECT count(*) FROM survey.response_chain WHERE payload::jsonb ->> 'content_hash' = ANY(:r)"),
        {"r": receipts},
    )
    assert sealed == 3  # each respondent's receipt is in the chained log

    for statement in ("UPDATE survey.response SET answers = '{}'", "DELETE FROM survey.response"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.begin_nested():
                await db.execute(text(f"{statement} WHERE campaign_id = :c"), {"c": cid})
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.begin_nested():
            await db.execute(text("UPDATE survey.response_chain SET payload = '{}'"))
    # Someone with the power to bypass triggers edits an answer: the report names the response.
    edited = await db.scalar(text("SELECT id FROM survey.response WHERE campaign_id = :c LIMIT 1"), {"c": cid})
    await db.execute(text("SET LOCAL session_replication_role = replica"))
    await db.execute(
        text(f"UPDATE survey.response SET answers = jsonb_set(answers, '{{{GRID[1]}}}', '1') WHERE id = :i"),
        {"i": edited},
    )
    await db.execute(text("SET LOCAL session_replication_role = origin"))
    report = (await client.get(f"/api/v1/campaigns/{cid}/integrity", headers=auditor)).json()
    assert not report["intact"] and report["responses"]["altered"] == [str(edited)]


async def test_a_failed_sealing_loses_nothing_and_no_response_is_sealed_twice(api, client, db, auth) -> None:
    campaign = await api.campaign_in_fieldwork()
    cid = campaign["id"]
    for token in await api.tokens(cid, 4):
        assert (await api.submit(token)).status_code == 201
    auditor = auth("audit", org_path=SZ)
    with pytest.raises(SealerCrashed):
        async with db.begin_nested():  # the sealer's transaction dies after appending to the log
            assert await seal_pending(db, uuid.UUID(cid)) == 4
            raise SealerCrashed
    report = (await client.get(f"/api/v1/campaigns/{cid}/integrity", headers=auditor)).json()
    assert report["intact"] and report["responses"]["sealed"] == 0 and report["responses"]["unsealed"] == 4
    assert await seal_pending(db, uuid.UUID(cid)) == 4
    assert await seal_pending(db, uuid.UUID(cid)) == 0  # the queue is empty: nothing is sealed twice
    report = (await client.get(f"/api/v1/campaigns/{cid}/integrity", headers=auditor)).json()
    assert report["intact"] and report["responses"]["sealed"] == 4 and report["responses"]["unsealed"] == 0
    logged = await db.scalar(
        text("SELECT count(*) FROM survey.response_chain WHERE payload::jsonb ->> 'campaign_id' = :c"), {"c": cid}
    )
    assert logged == 4


async def test_each_campaign_has_its_own_chain_and_tampering_breaks_only_it(api, client, db, auth) -> None:
    auditor, cids = auth("audit", org_path=SZ), []
    for _ in range(2):
        campaign = await api.campaign_in_fieldwork()
        for token in await api.tokens(campaign["id"], 2):
            assert (await api.submit(token)).status_code == 201
        assert await seal_pending(db, uuid.UUID(campaign["id"])) == 2
        cids.append(campaign["id"])
    starts = await db.execute(
        text("SELECT chain_key FROM survey.response_chain WHERE chain_key = ANY(:c) AND seq = 1 AND prev_hash = :g"),
        {"c": cids, "g": "0" * 64},
    )
    assert sorted(starts.scalars()) == sorted(cids)  # each campaign's chain starts at the genesis hash
    await db.execute(text("SET LOCAL session_replication_role = replica"))
    await db.execute(
        text("UPDATE survey.response_chain SET payload = '{}' WHERE chain_key = :c AND seq = 2"), {"c": cids[0]}
    )
    await db.execute(text("SET LOCAL session_replication_role = origin"))
    broken, intact = [(await client.get(f"/api/v1/campaigns/{cid}/integrity", headers=auditor)).json() for cid in cids]
    assert not broken["intact"] and broken["responses"]["first_broken_seq"] == 2
    assert len(broken["responses"]["altered"]) == 1  # the response whose sealed hash was wiped
    assert intact["intact"] and intact["responses"]["log_entries"] == 2


async def test_interviews_count_against_quota_and_overflow_is_kept_and_excluded(api, client, auth, db) -> None:
    campaign = await api.campaign_in_fieldwork(min_cell_size=1)
    cid = campaign["id"]
    r = await client.put(
        f"/api/v1/campaigns/{cid}/quotas",
        json={"items": [{"investigator": "inv-1", "respondent_group": "enterprises", "region": "ft", "quota": 2}]},
        headers=api.office,
    )
    assert r.status_code == 200, r.text
    investigator = auth("investigator", org_path=SZ, subject="inv-1")
    body = {"respondent_group": "enterprises", "region": "ft", "object_id": OBJECT_A, "answers": good_answers()}
    results = [
        await client.post(f"/api/v1/campaigns/{cid}/interviews", json=body, headers=investigator) for _ in range(3)
    ]
    assert [x.status_code for x in results] == [201, 201, 201]
    assert [x.json()["over_quota"] for x in results] == [False, False, True]
    elsewhere = {**body, "respondent_group": "urban_residents"}
    assert_problem(await client.post(f"/api/v1/campaigns/{cid}/interviews", json=elsewhere, headers=investigator), 403)
    stranger = auth("investigator", org_path=SZ, subject="inv-2")
    assert_problem(await client.post(f"/api/v1/campaigns/{cid}/interviews", json=body, headers=stranger), 403)
    quotas = (await client.get(f"/api/v1/campaigns/{cid}/quotas", headers=investigator)).json()["items"]
    assert quotas == [
        {
            "investigator": "inv-1",
            "respondent_group": "enterprises",
            "region": "ft",
            "quota": 2,
            "used": 3,
            "overflow": 1,
        }
    ]
    await api.move(cid, "closed")
    results = (await api.analyse(cid, db))["results"]
    assert results["responses_total"] == 3 and results["responses_valid"] == 2 and results["flagged"]["over_quota"] == 1


async def test_the_respondent_page_is_a_plain_form_that_submits(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    page = await client.get(f"/public/surveys/s/{token}")
    assert page.status_code == 200 and "<script" not in page.text and 'name="viewport"' in page.text
    assert re.search(r'<form method="post" action="/public/surveys/responses">', page.text)
    started = re.search(r'name="started_at" value="(\d+)"', page.text).group(1)
    form = [("token", token), ("started_at", started), *[(g, "4") for g in GRID], ("overall", "8"), ("contact", "yes")]
    form += [("channels", "web"), ("channels", "phone"), ("comment", "<b>fine</b>")]
    client.cookies.update(page.cookies)  # what a browser sends back with the form
    done = await client.post(
        "/public/surveys/responses",
        content="&".join(f"{k}={v}" for k, v in form).replace("<", "%3C").replace(">", "%3E").replace("/", "%2F"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 201 and "Thank you" in done.text, done.text
    stored = await db.scalar(text("SELECT answers FROM survey.response WHERE campaign_id = :c"), {"c": campaign["id"]})
    assert stored["channels"] == ["web", "phone"] and stored["comment"] == "<b>fine</b>" and stored["g1"] == 4
    used = await client.get(f"/public/surveys/s/{token}")
    assert used.status_code == 409 and "used" in used.text


async def test_a_bad_form_post_explains_itself_and_keeps_the_token(api, client) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    r = await client.post(
        "/public/surveys/responses",
        content=f"token={token}&g1=9",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 422 and "answers.g1" in r.text and "not recorded" in r.text
    assert (await client.get(f"/public/surveys/s/{token}")).status_code == 200


async def test_roles_and_scopes(api, client, auth) -> None:
    campaign = await api.campaign_in_fieldwork()
    cid = campaign["id"]
    other_city = auth("perf_office", org_path="/gd/gz")
    rated_unit = auth("department", org_path="/gd/sz/ft")
    assert_problem(await client.get(f"/api/v1/campaigns/{cid}", headers=other_city), 404)
    assert_problem(await client.get(f"/api/v1/campaigns/{cid}", headers=rated_unit), 404)
    assert_problem(
        await client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "closed"}, headers=other_city), 404
    )
    auditor = auth("audit", org_path=SZ)
    assert_problem(
        await client.post(f"/api/v1/campaigns/{cid}/transitions", json={"to": "closed"}, headers=auditor), 403
    )
    assert_problem(
        await client.get(f"/api/v1/campaigns/{cid}/integrity", headers=auth("investigator", org_path=SZ)), 403
    )
    assert_problem(await client.get("/api/v1/campaigns"), 401)
    body = api.campaign_body(campaign["questionnaire_id"], org_path="/gd/gz")
    assert_problem(await client.post("/api/v1/campaigns", json=body, headers=api.office), 403)
    bad = api.campaign_body(campaign["questionnaire_id"], unexpected=1, min_cell_size=0)
    assert_problem(
        await client.post("/api/v1/campaigns", json=bad, headers=api.office), 422, "unexpected", "min_cell_size"
    )
    expires = "2099-01-01T00:00:00Z"
    too_many = {
        "respondent_group": "urban_residents",
        "region": "ft",
        "object_id": OBJECT_A,
        "count": 100_001,
        "expires_at": expires,
    }
    assert_problem(
        await client.post(f"/api/v1/campaigns/{cid}/token-batches", json=too_many, headers=api.office), 422, "count"
    )
    wrong_cell = {**too_many, "count": 1, "region": "nowhere"}
    assert_problem(
        await client.post(f"/api/v1/campaigns/{cid}/token-batches", json=wrong_cell, headers=api.office), 422, "region"
    )
