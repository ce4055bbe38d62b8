"""The service as deployed (set-based intake, periodic sealer, job worker) with real commits."""

import pytest
from sqlalchemy import text

from services.survey_svc.app import create_app
from shared.testing.plugin import client_for, started
from tests.survey_svc.conftest import survey_settings


@pytest.fixture(scope="module")
async def live_app(migrated, dev_keys):
    app = create_app(survey_settings(migrated, dev_keys, run_relay=False, seal_interval_seconds=0.1))
    async for running in started(app):
        yield running


@pytest.fixture
async def committing_client(live_app):
    async with client_for(live_app) as http:
        yield http
    async with live_app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE survey.response, survey.respondent_token, survey.token_batch, survey.investigator_quota, "
                "survey.analysis, survey.campaign, survey.questionnaire, survey.outbox, survey.idempotency_key, "
                "survey.response_unsealed"
            )
        )
