"""Integration fixtures: an appraisal app whose requests really commit; every table is emptied after."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from services.appraisal_svc.app import create_app
from tests.appraisal_svc.conftest import appraisal_settings

TABLES = (
    "audit_log, audit_anchor, data_flag, data_point, evidence_file, target_amendment, target, plan_leaf, plan_object, "
    "plan, cycle, framework_version, appraisal_object, org_unit, outbox, inbox, dead_letter, idempotency_key, job"
)


async def empty(engine) -> None:
    async with engine.begin() as conn:
        # The audit log refuses TRUNCATE by trigger; the test database's superuser switches triggers off.
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(f"TRUNCATE {', '.join('appraisal.' + t.strip() for t in TABLES.split(','))} CASCADE"))


@pytest.fixture
async def committed_app(migrated, dev_keys) -> AsyncIterator:
    app = create_app(appraisal_settings(migrated, dev_keys, run_relay=False, run_consumers=False))
    async with app.router.lifespan_context(app):
        await empty(app.state.engine)
        try:
            yield app
        finally:
            await empty(app.state.engine)
