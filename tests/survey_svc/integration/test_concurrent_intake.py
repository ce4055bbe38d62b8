"""Real commits, real concurrency: 1,000 submits spread over 100 tokens record exactly 100 responses,
in one unbroken chain."""

import asyncio
from collections import Counter

import pytest
from sqlalchemy import text

from shared.testing.plugin import client_for, wait_for
from tests.survey_svc.support import SurveyApi


@pytest.fixture
async def committing_client(survey_app):
    async with client_for(survey_app) as http:
        yield http
    async with survey_app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE survey.response, survey.respondent_token, survey.token_batch, survey.investigator_quota, "
                "survey.analysis, survey.campaign, survey.questionnaire, survey.outbox, "
                "survey.idempotency_key"
            )
        )


async def test_a_thousand_concurrent_submits_over_a_hundred_tokens_accept_exactly_a_hundred(
    committing_client, auth, survey_app
) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    tokens = await api.tokens(campaign["id"], 100)
    attempts = [tokens[i % 100] for i in range(1000)]
    results = await asyncio.gather(*(api.submit(t) for t in attempts))
    statuses = Counter(r.status_code for r in results)
    assert statuses[201] == 100 and statuses[201] + statuses[409] == 1000, statuses
    async with survey_app.state.engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM survey.response WHERE campaign_id = :c"), {"c": campaign["id"]}
        )
    assert stored == 100
    await api.move(campaign["id"], "closed")
    report = (
        await committing_client.get(
            f"/api/v1/campaigns/{campaign['id']}/integrity", headers=auth("audit", org_path="/gd/sz")
        )
    ).json()
    assert report["intact"] and report["responses"]["sealed"] == 100 and report["tokens"]["spent"] == 100


@pytest.fixture
async def sealing_app(migrated, dev_keys):
    from services.survey_svc.app import create_app
    from shared.testing.plugin import started
    from tests.survey_svc.conftest import survey_settings

    app = create_app(survey_settings(migrated, dev_keys, run_relay=False, seal_interval_seconds=0.1))
    async for running in started(app):
        yield running


async def test_the_periodic_sealer_chains_responses_during_fieldwork(committing_client, auth, sealing_app) -> None:
    api = SurveyApi(committing_client, auth)
    campaign = await api.campaign_in_fieldwork()
    for token in await api.tokens(campaign["id"], 5):
        assert (await api.submit(token)).status_code == 201
    auditor = auth("audit", org_path="/gd/sz")

    async def sealed() -> bool:
        report = (await committing_client.get(f"/api/v1/campaigns/{campaign['id']}/integrity", headers=auditor)).json()
        return report["intact"] and report["responses"]["sealed"] == 5 and report["responses"]["unsealed"] == 0

    await wait_for(sealed, timeout=20)
