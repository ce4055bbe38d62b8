"""A campaign from XLSForm import to the public report, through the service's HTTP API."""

import re

from sqlalchemy import select, text

from services.survey_svc.db import TABLES
from tests.survey_svc.support import GRID, OBJECT_A, OBJECT_B, assert_problem, good_answers


async def test_campaign_from_import_to_public_report_and_event(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork()
    cid = campaign["id"]
    urban = await api.tokens(cid, 6)
    firms = await api.tokens(cid, 5, group="enterprises")
    nanshan = await api.tokens(cid, 3, object_id=OBJECT_B)
    for i, token in enumerate(urban):
        r = await api.submit(token, good_answers(level=5 if i % 2 else 4), duration_seconds=300)
        assert r.status_code == 201, r.text
        assert re.fullmatch(r"[0-9a-f]{64}", r.json()["receipt"])
    for token in firms:
        assert (await api.submit(token, good_answers(level=2), duration_seconds=280)).status_code == 201
    for token in nanshan[:2]:  # below the minimum cell size of 3: suppressed
        assert (await api.submit(token, good_answers(), duration_seconds=310)).status_code == 201
    await api.move(cid, "closed")

    results = (await api.analyse(cid, db))["results"]
    assert results["responses_valid"] == 13 and results["method"] == "post_stratified"
    cells = {(c["object_id"], c["dimension"], c["respondent_group"]): c for c in results["cells"]}
    futian = cells[(OBJECT_A, "overall", None)]
    assert not futian["suppressed"] and float(futian["ci_low"]) <= float(futian["index"]) <= float(futian["ci_high"])
    assert cells[(OBJECT_A, "service", None)]["indicator_code"] == "S2"
    ns = cells[(OBJECT_B, "overall", None)]
    assert ns["suppressed"] and ns["index"] is None and ns["n"] == 2

    blind = await client.post(f"/api/v1/campaigns/{cid}/publish", headers=api.office)
    assert_problem(blind, 428, "If-Match")
    stale = await client.post(f"/api/v1/campaigns/{cid}/publish", headers={**api.office, "If-Match": '"1"'})
    assert_problem(stale, 412)
    r = await api.publish(cid)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"
    envelope = (
        await db.execute(select(TABLES.outbox.c.envelope).where(TABLES.outbox.c.envelope["subject"].astext == cid))
    ).scalar_one()
    assert envelope["type"] == "survey.results.finalized"
    data = envelope["data"]
    assert data["analysis_version"] == 1 and data["responses_valid"] == 13
    event_cell = next(
        c
        for c in data["cells"]
        if c["object_id"] == OBJECT_A and c["dimension"] == "overall" and c["respondent_group"] is None
    )
    assert event_cell["index"] == futian["index"]

    report = await client.get(f"/public/surveys/campaigns/{cid}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<svg" in report.text and "Futian district" in report.text and "suppressed" in report.text
    assert "<script" not in report.text
    csv_text = (await client.get(f"/public/surveys/campaigns/{cid}/report.csv")).text
    assert csv_text.startswith("object_id,object_name,dimension") and OBJECT_A in csv_text
    xlsx = await client.get(f"/public/surveys/campaigns/{cid}/report.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


async def test_public_downloads_defuse_formulas_in_object_names(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork(
        min_cell_size=1, objects=[{"id": OBJECT_A, "name": '=HYPERLINK("http://evil","x")'}]
    )
    cid = campaign["id"]
    [token] = await api.tokens(cid, 1)
    assert (await api.submit(token, duration_seconds=100)).status_code == 201
    await api.move(cid, "closed")
    await api.analyse(cid, db)
    assert (await api.publish(cid)).status_code == 200
    csv_text = (await client.get(f"/public/surveys/campaigns/{cid}/report.csv")).text
    assert ",\"'=HYPERLINK(" in csv_text and ",=HYPERLINK" not in csv_text and ',"=HYPERLINK' not in csv_text
    html = (await client.get(f"/public/surveys/campaigns/{cid}/report")).text
    assert "http://evil" in html and '<a href="http://evil' not in html  # escaped text, not markup


async def test_a_correction_is_a_new_analysis_version(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork(min_cell_size=1)
    cid = campaign["id"]
    for token in await api.tokens(cid, 2):
        assert (await api.submit(token, duration_seconds=100)).status_code == 201
    await api.move(cid, "closed")
    first = await api.analyse(cid, db)
    assert (await api.publish(cid)).status_code == 200
    second = await api.analyse(cid, db)
    assert (first["version"], second["version"]) == (1, 2)
    # The public still sees version 1 until the correction is published.
    report = await client.get(f"/public/surveys/campaigns/{cid}/report")
    assert "analysis version\n1" in report.text or "analysis version 1" in report.text.replace("\n", " ")


async def test_unpublished_campaign_has_no_public_report(api, client) -> None:
    campaign = await api.campaign_in_fieldwork()
    r = await client.get(f"/public/surveys/campaigns/{campaign['id']}/report")
    assert_problem(r, 404)


async def test_bad_answers_store_nothing_and_leave_the_token_unspent(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork()
    [token] = await api.tokens(campaign["id"], 1)
    bad = good_answers(nonsense=3)
    bad[GRID[1]] = 9
    del bad[GRID[2]]
    r = await api.submit(token, bad)
    body = assert_problem(r, 422, "answers.nonsense", f"answers.{GRID[1]}", f"answers.{GRID[2]}")
    assert "9" not in body["detail"]
    hidden = await api.submit(token, good_answers(channels=["web"]))  # shown only when contact == yes
    assert_problem(hidden, 422, "answers.channels")
    count = await db.scalar(text("SELECT count(*) FROM survey.response WHERE campaign_id = :c"), {"c": campaign["id"]})
    assert count == 0
    assert (await api.submit(token, good_answers(contact="yes", channels=["web", "phone"]))).status_code == 201
    again = await api.submit(token)
    assert_problem(again, 409)


async def test_unknown_and_expired_tokens_and_closed_surveys_are_refused(api, client, db) -> None:
    campaign = await api.campaign_in_fieldwork()
    assert_problem(await api.submit("no-such-token"), 404)
    [token, other] = await api.tokens(campaign["id"], 2)
    expire_one = (
        "UPDATE survey.respondent_token SET expires_at = now() - interval '1 minute' WHERE token_hash = "
        "(SELECT token_hash FROM survey.respondent_token WHERE campaign_id = :c LIMIT 1)"
    )
    await db.execute(text(expire_one), {"c": campaign["id"]})
    statuses = sorted([(await api.submit(token)).status_code, (await api.submit(other)).status_code])
    assert statuses == [201, 410]
    await api.move(campaign["id"], "closed")
    [late] = [t for t in (token, other)][:1]
    assert (await api.submit(late)).status_code in (409, 410)
