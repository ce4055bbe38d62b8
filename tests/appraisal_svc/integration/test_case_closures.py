"""feedback.case.closed through NATS and the real consumer: the closing is recorded against the
object, readable by whoever may read the object, and only the latest closing of a case counts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from contracts.feedback_events import FEEDBACK_CASE_CLOSED, CaseClosed
from shared.events import CloudEvent, make_event
from shared.testing.plugin import wait_for
from tests.appraisal_svc.integration import test_expert_and_survey_inputs as inputs

# The consuming app and its world, as the survey-input tests build them.
consuming_app, world_of, applied = inputs.consuming_app, inputs.world_of, inputs.applied

CLOSED = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)


def closing(
    world: Any, county: str, *, case_id: uuid.UUID, closed_at: dt.datetime = CLOSED, **fields: Any
) -> CaseClosed:
    values: dict[str, Any] = {
        "case_id": case_id,
        "plan_id": world.plan["id"],
        "cycle_id": world.cycle_id,
        "cycle_label": "2026",
        "result_version": 2,
        "object_id": world.objects[county],
        "object_kind": "government",
        "org_unit_id": world.counties[county]["id"],
        "org_path": f"/gd/sz/{county}",
        "reasons": ["low_attainment:ECO-01"],
        "tasks_total": 3,
        "tasks_verified": 3,
        "tasks_overdue": 1,
        "opened_at": dt.datetime(2027, 1, 10, tzinfo=dt.UTC),
        "closed_at": closed_at,
        "closed_by": "office-sz",
        **fields,
    }
    return CaseClosed.model_validate(values)


async def publish(app: FastAPI, payload: CaseClosed) -> CloudEvent:
    # No aggregate sequence: the upsert's own closed_at guard must keep the latest closing.
    event = make_event(FEEDBACK_CASE_CLOSED, payload, source="govperf/feedback", subject=str(payload.case_id))
    await app.state.js.publish(event.nats_subject, event.model_dump_json().encode())
    await wait_for(lambda: applied(app, event), timeout=20)
    return event


async def test_a_closed_case_is_recorded_against_its_object_and_the_latest_closing_counts(
    consuming_app, world_of
) -> None:
    api, world = world_of
    case = uuid.uuid4()
    try:
        await publish(consuming_app, closing(world, "ft", case_id=case, tasks_overdue=0))
        # Reopened and closed again later with an overdue task; then the first closing arrives late.
        later = CLOSED + dt.timedelta(days=20)
        await publish(consuming_app, closing(world, "ft", case_id=case, closed_at=later))
        await publish(consuming_app, closing(world, "ft", case_id=case, tasks_overdue=0))
        ft = world.objects["ft"]
        seen = await api.ok("GET", f"/objects/{ft}/improvements", headers=api.as_("department", "/gd/sz/ft"))
        assert [(i["case_id"], i["closed_at"], i["tasks_overdue"]) for i in seen["items"]] == [
            (str(case), later.isoformat().replace("+00:00", "Z"), 1)
        ]
        assert seen["items"][0]["cycle_label"] == "2026" and seen["items"][0]["reasons"] == ["low_attainment:ECO-01"]
        assert seen["next_cursor"] is None
        # Another county's department does not see the object at all; an expert may not read objects.
        await api.ok("GET", f"/objects/{ft}/improvements", 404, headers=api.as_("department", "/gd/sz/ns"))
        await api.ok("GET", f"/objects/{ft}/improvements", 403, headers=api.as_("expert", "/gd/sz"))
        async with consuming_app.state.engine.connect() as conn:
            dead = await conn.scalar(text("SELECT count(*) FROM appraisal.dead_letter"))
        assert dead == 0
    finally:
        async with consuming_app.state.engine.begin() as conn:
            await conn.execute(text("TRUNCATE appraisal.improvement_closure"))


async def test_an_objects_closures_are_paged(consuming_app, world_of) -> None:
    api, world = world_of
    try:
        cases = sorted(uuid.uuid4() for _ in range(3))
        for case in cases:
            await publish(consuming_app, closing(world, "ns", case_id=case))
        ns = world.objects["ns"]
        first = await api.ok("GET", f"/objects/{ns}/improvements", params={"limit": 2})
        second = await api.ok("GET", f"/objects/{ns}/improvements", params={"limit": 2, "cursor": first["next_cursor"]})
        assert [i["case_id"] for i in first["items"] + second["items"]] == [str(c) for c in cases]
        assert second["next_cursor"] is None
    finally:
        async with consuming_app.state.engine.begin() as conn:
            await conn.execute(text("TRUNCATE appraisal.improvement_closure"))
