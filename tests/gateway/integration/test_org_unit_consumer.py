"""The gateway's consumer of ``appraisal.orgunit.changed`` on real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from sqlalchemy import delete

from contracts.org_units import APPRAISAL_ORGUNIT_CHANGED, OrgUnitChanged
from services.gateway.app import create_app
from services.gateway.identity.models import OrgUnit
from shared.auth.devkeys import DevKeys
from shared.db import committing
from shared.events import make_event
from shared.testing.plugin import Infra, started, wait_for
from tests.gateway.conftest import identity_settings


async def test_an_org_unit_published_on_nats_reaches_the_gateways_copy(migrated: Infra, dev_keys: DevKeys):
    unit = uuid.uuid4()
    change = OrgUnitChanged(id=unit, code="lh", name="Luohu", kind="district", org_path="/gd/sz/lh")
    event = make_event(APPRAISAL_ORGUNIT_CHANGED, change, source="appraisal", subject=str(unit))
    event = event.model_copy(update={"sequence": 1})  # as appraisal's outbox would number it
    async for app in started(create_app(identity_settings(migrated, dev_keys, run_consumers=True))):
        try:
            await app.state.js.publish(
                event.nats_subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": str(event.id)}
            )

            async def arrived(app: FastAPI = app) -> OrgUnit | None:
                async with app.state.sessionmaker() as session:
                    return await session.get(OrgUnit, unit)

            await wait_for(arrived, timeout=30)
            stored = await arrived()
            assert stored is not None and stored.org_path == "/gd/sz/lh" and not stored.deleted
        finally:
            # Every committed copy goes: the other gateway tests expect no org tree unless they add one.
            async with app.state.sessionmaker() as session, committing(session):
                await session.execute(delete(OrgUnit))
