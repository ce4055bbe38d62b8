"""Real commits, real concurrency, the service as deployed (set-based intake writer and periodic
sealer on): 1,000 submits spread over 100 tokens record exactly 100 responses, and the sealer
chains responses during fieldwork."""

import asyncio
import datetime as dt
import os
import uuid
from collections import Counter

from sqlalchemy import text
from typer.testing import CliRunner

from services.survey_svc.response import service as responses
from shared.cli import app as cli
from shared.testing.plugin import wait_for
from tests.survey_svc.support import OBJECT_A, SurveyApi, good_answers

AUDITOR_SCOPE = "/gd/sz"


async def integrity(client, auth, campaign_id: str) -> dict:
    r = await client.get(f"/api/v1/campaigns/{campaign_id}/integrity", headers=auth("audit", org_path=AUDITOR_SCOPE))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_thousand_concurrent_submits_over_a_hundred_tokens_accept_exactly_a_hundred(
    committing_client, auth, live_app
) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 100)
    attempts = [tokens[i % 100] for i in range(1000)]
    results = await asyncio.gather(*(api.submit(t, good_answers(level=1 + i % 5)) for i, t in enumerate(attempts)))
    statuses = Counter(r.status_code for r in results)
    assert statuses[201] == 100 and statuses[201] + statuses[409] == 1000, statuses
    receipts = {r.json()["receipt"] for r in results if r.status_code == 201}
    async with live_app.state.engine.connect() as conn:
        stored = set(
            await conn.scalars(
                text("SELECT content_hash FROM survey.response WHERE campaign_id = :c"), {"c": campaign["id"]}
            )
        )
        spent = await conn.scalar(
            text("SELECT count(*) FROM survey.respondent_token WHERE campaign_id = :c AND spent"), {"c": campaign["id"]}
        )
    assert stored == receipts and spent == 100  # every 201 is a stored response, and nothing else is
    async with live_app.state.engine.connect() as conn:
        linkable = await conn.scalar(
            text(
                "SELECT (SELECT count(*) FROM survey.respondent_token WHERE campaign_id = :c AND spent_at IS NOT NULL)"
                " + (SELECT count(*) FROM survey.response WHERE campaign_id = :c"
                " AND (token_hash IS NOT NULL OR received_at IS NOT NULL))"
            ),
            {"c": campaign["id"]},
        )
    assert linkable == 0  # the set-based writer keeps anonymous campaigns unlinkable too
    await api.move(campaign["id"], "closed")
    report = await integrity(committing_client, auth, campaign["id"])
    assert report["intact"] and report["responses"]["sealed"] == 100 and report["tokens"]["spent"] == 100


async def test_a_bad_response_in_a_busy_round_spends_nothing(committing_client, auth) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 20)
    bad = {**good_answers(), "g1": 7}
    results = await asyncio.gather(*(api.submit(t, bad if i % 2 else None) for i, t in enumerate(tokens)))
    assert [r.status_code for r in results] == [201, 422] * 10
    retried = await asyncio.gather(*(api.submit(t) for t in tokens[1::2]))
    assert all(r.status_code == 201 for r in retried)


async def test_the_periodic_sealer_chains_responses_during_fieldwork(committing_client, auth) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    for token in await api.tokens(campaign["id"], 5):
        assert (await api.submit(token)).status_code == 201

    async def sealed() -> bool:
        report = await integrity(committing_client, auth, campaign["id"])
        return report["intact"] and report["responses"]["sealed"] == 5 and report["responses"]["unsealed"] == 0

    await wait_for(sealed, timeout=20)


async def test_analysis_runs_as_a_job_on_the_worker(committing_client, auth) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork(min_cell_size=1)
    for token in await api.tokens(campaign["id"], 4):
        assert (await api.submit(token)).status_code == 201
    early = await committing_client.post(f"/api/v1/campaigns/{campaign['id']}/analyses", headers=api.office)
    assert early.status_code == 409  # fieldwork is still open
    await api.move(campaign["id"], "closed")
    requested = await committing_client.post(f"/api/v1/campaigns/{campaign['id']}/analyses", headers=api.office)
    assert requested.status_code == 202, requested.text
    again = await committing_client.post(f"/api/v1/campaigns/{campaign['id']}/analyses", headers=api.office)
    assert again.json()["id"] == requested.json()["id"] or again.json()["status"] == "succeeded"
    location = requested.headers["Location"]
    assert (await committing_client.get(location, headers=auth("perf_office", org_path="/gd/gz"))).status_code == 404

    async def finished() -> bool:
        job = (await committing_client.get(location, headers=api.office)).json()
        return job["status"] == "succeeded" and job["result"]["analysis_version"] >= 1

    await wait_for(finished, timeout=30)
    latest = await committing_client.get(f"/api/v1/campaigns/{campaign['id']}/analyses/latest", headers=api.office)
    assert latest.json()["results"]["responses_valid"] == 4


async def test_a_row_the_database_refuses_fails_only_its_own_request(committing_client, auth, live_app) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 6)
    key = live_app.state.settings.survey_token_key.get_secret_value().encode()
    prepared = [
        await responses.prepare_token_response(
            live_app.state.reader,
            key=key,
            salt=b"salt",
            token=token,
            answers=good_answers(),
            duration_seconds=60,
            device_fingerprint=None,
        )
        for token in tokens
    ]
    prepared[3].fields["answers"]["comment"] = "\x00"  # spoiled past the checks: jsonb refuses it
    outcomes = await asyncio.gather(
        *(responses.record_token_response_batched(live_app.state.intake_writer, p) for p in prepared),
        return_exceptions=True,
    )
    assert [isinstance(o, Exception) for o in outcomes] == [False, False, False, True, False, False], outcomes
    async with live_app.state.engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM survey.response WHERE campaign_id = :c"), {"c": campaign["id"]}
        )
    assert stored == 5
    assert (await api.submit(tokens[3])).status_code == 201  # its token was not spent


async def test_audit_verify_checks_every_campaign_chain_and_names_a_broken_one(
    committing_client, auth, live_app
) -> None:
    api = SurveyApi(committing_client, auth)
    cids = []
    for _ in range(2):
        campaign = await api.campaign_in_fieldwork()
        for token in await api.tokens(campaign["id"], 3):
            assert (await api.submit(token)).status_code == 201
        cids.append(campaign["id"])

    async def sealed() -> bool:
        reports = [await integrity(committing_client, auth, cid) for cid in cids]
        return all(report["responses"]["sealed"] == 3 for report in reports)

    await wait_for(sealed, timeout=20)
    env = {**os.environ, "GOVPERF_DATABASE_URL": live_app.state.settings.database_url, "GOVPERF_ENV": "test"}
    ok = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "verify", "survey"], env=env)
    assert ok.exit_code == 0 and " chains" in ok.output, ok.output
    async with live_app.state.engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("DELETE FROM survey.response_chain WHERE chain_key = :c AND seq = 2"), {"c": cids[1]})
    broken = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "verify", "survey"], env=env)
    assert broken.exit_code == 1 and f"chain {cids[1]}" in broken.output, broken.output
    assert (await integrity(committing_client, auth, cids[0]))["intact"]


async def test_concurrent_retries_of_one_token_batch_issue_it_once(committing_client, auth, live_app) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
    body = {
        "respondent_group": "urban_residents",
        "region": "ft",
        "object_id": OBJECT_A,
        "count": 50,
        "expires_at": expires,
    }
    headers = {**api.office, "Idempotency-Key": str(uuid.uuid4())}
    url = f"/api/v1/campaigns/{campaign['id']}/token-batches"
    answers = await asyncio.gather(*(committing_client.post(url, json=body, headers=headers) for _ in range(6)))
    assert {r.status_code for r in answers} <= {201, 409} and any(r.status_code == 201 for r in answers)
    assert len({r.text for r in answers if r.status_code == 201}) == 1  # every 201 carries the same batch
    async with live_app.state.engine.connect() as conn:
        issued = await conn.scalar(
            text("SELECT count(*) FROM survey.respondent_token WHERE campaign_id = :c"), {"c": campaign["id"]}
        )
    assert issued == 50
