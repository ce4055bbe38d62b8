"""``appraisal.orgunit.changed`` through the gateway's registered handler, on real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from contracts.org_units import APPRAISAL_ORGUNIT_CHANGED, OrgUnitChanged
from services.gateway.consumers import HANDLERS
from services.gateway.identity.models import OrgUnit
from shared.events import CloudEvent, make_event
from tests.gateway.api.support import Identity, bearer, unit_of

USERS = "/api/v1/admin/users"


def unit_event(unit: uuid.UUID, org_path: str, *, at: dt.datetime | None = None, **extra: object) -> CloudEvent:
    payload = OrgUnitChanged(
        id=unit, code=org_path.rsplit("/", 1)[-1] or "root", name=org_path, kind="county", org_path=org_path, **extra
    )
    event = make_event(APPRAISAL_ORGUNIT_CHANGED, payload, source="appraisal", subject=str(unit))
    return event.model_copy(update={"time": at}) if at is not None else event


async def test_accounts_follow_their_unit_when_appraisal_moves_it(ident: Identity, db, client):
    handle = HANDLERS[APPRAISAL_ORGUNIT_CHANGED]
    _, admin = await ident.headers("admin", org_path="/")
    staff = await ident.user("department", org_path="/gd/sz/ft")
    unit = unit_of("/gd/sz/ft")
    token = (await ident.tokens(staff))["access_token"]
    t0 = dt.datetime.now(dt.UTC)
    await handle(db, unit_event(unit, "/gd/sz/ft", at=t0))
    assert (await ident.me(bearer(token))).status_code == 200  # nothing moved yet

    await handle(db, unit_event(unit, "/gd/sz/futian", at=t0 + dt.timedelta(seconds=1)))
    await db.refresh(staff)
    assert staff.org_path == "/gd/sz/futian"
    assert (await ident.me(bearer(token))).status_code == 401  # the old scope's token is dead
    audit = (await client.get("/api/v1/admin/audit", params={"action": "org_unit.moved"}, headers=admin)).json()
    assert [e["details"]["users"] for e in audit["items"]] == [[str(staff.id)]]
    # A redelivered older event changes nothing.
    await handle(db, unit_event(unit, "/gd/sz/ft", at=t0))
    await db.refresh(staff)
    stored = await db.get(OrgUnit, unit, populate_existing=True)
    assert staff.org_path == "/gd/sz/futian" and stored is not None and stored.org_path == "/gd/sz/futian"


async def test_a_poison_org_unit_event_is_refused_at_the_edge(db):
    handle = HANDLERS[APPRAISAL_ORGUNIT_CHANGED]
    event = unit_event(uuid.uuid4(), "/gd/x")
    for bad in ({"org_path": "not a path"}, {"id": "nope"}, {"surprise": 1}, {"name": "x" * 10_000}):
        with pytest.raises(ValidationError):
            await handle(db, event.model_copy(update={"data": event.data | bad}))
    assert await db.get(OrgUnit, uuid.UUID(event.data["id"])) is None
