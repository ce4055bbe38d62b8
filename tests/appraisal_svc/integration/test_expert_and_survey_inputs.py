"""survey.results.finalized through NATS and the real consumer into survey data points: newer
analyses supersede, older ones are ignored, suppressed cells end the value; plus concurrent
ratings, assignments and veto withdrawals on one row against really committing requests."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.survey_results import SURVEY_RESULTS_FINALIZED, SatisfactionCell, SurveyResultsFinalized
from services.appraisal_svc.app import create_app
from services.appraisal_svc.framework.service import on_framework_published
from shared.events import CloudEvent, make_event
from shared.testing.plugin import client_for, wait_for
from tests.appraisal_svc.api.support import Api, World, framework_event
from tests.appraisal_svc.api.test_experts import VETO_FRAMEWORK
from tests.appraisal_svc.conftest import appraisal_settings
from tests.appraisal_svc.integration.conftest import empty

PART2 = "expert_rating, expert_assignment, veto_event, survey_cell"


class CommittingApi(Api):
    """The API helper against an app whose requests commit: a received framework is committed too."""

    async def receive_framework(self, content: dict[str, Any] | None = None) -> CloudEvent:
        event = framework_event(content)
        await on_framework_published(self.db, event)
        await self.db.commit()
        return event


async def empty_part2(app: FastAPI) -> None:
    async with app.state.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {', '.join('appraisal.' + t.strip() for t in PART2.split(','))} CASCADE"))
    await empty(app.state.engine)


@pytest.fixture
async def consuming_app(migrated, dev_keys) -> AsyncIterator[FastAPI]:
    app = create_app(
        appraisal_settings(migrated, dev_keys, run_relay=False, run_consumers=True, consumer_max_deliver=2)
    )
    async with app.router.lifespan_context(app):
        await empty_part2(app)
        try:
            yield app
        finally:
            await empty_part2(app)


@pytest.fixture
async def world_of(consuming_app: FastAPI, auth) -> AsyncIterator[tuple[CommittingApi, World]]:
    async with client_for(consuming_app) as http, AsyncSession(consuming_app.state.engine) as session:
        api = CommittingApi(http, auth, session)
        yield api, await api.world()


def results(
    plan_id: str | None, cells: list[SatisfactionCell], version: int = 1, **fields: Any
) -> SurveyResultsFinalized:
    values: dict[str, Any] = {
        "campaign_id": fields.pop("campaign_id", CAMPAIGN),
        "analysis_version": version,
        "questionnaire_id": uuid.uuid4(),
        "questionnaire_version": 1,
        "organizer_org_path": "/gd/sz",
        "cycle_label": "2026",
        "plan_id": plan_id,
        "fieldwork_start": dt.date(2026, 3, 1),
        "fieldwork_end": dt.date(2026, 3, 31),
        "responses_valid": 1200,
        "responses_rejected": 40,
        "min_cell_size": 30,
        "results_hash": f"{version:064x}",
        "finalized_at": dt.datetime(2026, 4, 1, tzinfo=dt.UTC) + dt.timedelta(days=version),
        "cells": cells,
        **fields,
    }
    return SurveyResultsFinalized.model_validate(values)


CAMPAIGN = uuid.uuid4()


def cell(object_id: str, index: str | None, **fields: Any) -> SatisfactionCell:
    if index is None:
        return SatisfactionCell(
            object_id=uuid.UUID(object_id), dimension="overall", indicator_code="S1", n=12, suppressed=True, **fields
        )
    value = Decimal(index)
    return SatisfactionCell(
        object_id=uuid.UUID(object_id),
        dimension="overall",
        indicator_code="S1",
        n=400,
        suppressed=False,
        index=value,
        ci_low=value - 2,
        ci_high=value + 2,
        **fields,
    )


async def publish(app: FastAPI, payload: SurveyResultsFinalized, sequence: int | None = None) -> CloudEvent:
    event = make_event(SURVEY_RESULTS_FINALIZED, payload, source="govperf/survey", subject=str(payload.campaign_id))
    if sequence is not None:
        event = event.model_copy(update={"sequence": sequence})
    await app.state.js.publish(event.nats_subject, event.model_dump_json().encode())
    return event


async def applied(app: FastAPI, event: CloudEvent) -> bool:
    async with app.state.engine.connect() as conn:
        inbox = await conn.scalar(text("SELECT count(*) FROM appraisal.inbox WHERE event_id = :id"), {"id": event.id})
        dead = await conn.scalar(
            text("SELECT count(*) FROM appraisal.dead_letter WHERE event_id = :id"), {"id": event.id}
        )
    return bool(inbox or dead)


async def survey_points(app: FastAPI) -> list[Any]:
    async with app.state.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT object_id::text AS object_id, metric, period, revision, current, value, status, provenance "
                "FROM appraisal.data_point WHERE source = 'survey' ORDER BY object_id, revision"
            )
        )
        return list(rows)


def current(points: list[Any]) -> dict[str, Decimal]:
    return {p.object_id: p.value for p in points if p.current}


async def test_satisfaction_cells_become_accepted_survey_values_with_provenance(consuming_app, world_of) -> None:
    api, world = world_of
    ft, ns = world.objects["ft"], world.objects["ns"]
    outsider = str(uuid.uuid4())  # an object no plan appraises
    group = cell(ft, "10", respondent_group="business")  # a group breakdown is not scored
    unmapped = SatisfactionCell(
        object_id=uuid.UUID(ns),
        dimension="x",
        n=400,
        suppressed=False,
        index=Decimal(50),
        ci_low=Decimal(48),
        ci_high=Decimal(52),
    )
    payload = results(world.plan["id"], [cell(ft, "81.5"), cell(ns, "64.25"), cell(outsider, "90"), group, unmapped])
    event = await publish(consuming_app, payload)
    await wait_for(lambda: applied(consuming_app, event), timeout=20)
    points = await survey_points(consuming_app)
    assert current(points) == {ft: Decimal("81.5"), ns: Decimal("64.25")}
    first = next(p for p in points if p.object_id == ft)
    assert (first.metric, first.period, first.status, first.revision) == ("S1", "2026", "accepted", 1)
    assert first.provenance == {
        "campaign_id": str(CAMPAIGN),
        "analysis_version": 1,
        "index": "81.5",
        "ci_low": "79.5",
        "ci_high": "83.5",
        "n": 400,
        "confidence": "0.95",
        "suppressed": False,
        "results_hash": f"{1:064x}",
    }
    # The department of the county reads its value like any accepted value.
    seen = await api.ok(
        "GET", "/data-points", params={"object_id": ft, "period": "2026"}, headers=api.as_("department", "/gd/sz/ft")
    )
    assert [(p["metric"], p["source"], p["status"]) for p in seen["items"]] == [("S1", "survey", "accepted")]


async def test_a_newer_analysis_supersedes_an_older_one_is_ignored_a_suppressed_cell_ends_the_value(
    consuming_app, world_of
) -> None:
    _, world = world_of
    ft, ns = world.objects["ft"], world.objects["ns"]
    # Found by cycle label this time: every open plan of 2026 that scores S1 for the object.
    v1 = await publish(consuming_app, results(None, [cell(ft, "70"), cell(ns, "60")], version=1))
    await wait_for(lambda: applied(consuming_app, v1), timeout=20)
    v2 = await publish(consuming_app, results(None, [cell(ft, "75"), cell(ns, None)], version=2))
    await wait_for(lambda: applied(consuming_app, v2), timeout=20)
    points = await survey_points(consuming_app)
    assert current(points) == {ft: Decimal("75")}
    assert [(p.revision, p.current) for p in points if p.object_id == ft] == [(1, False), (2, True)]
    assert [(p.revision, p.current) for p in points if p.object_id == ns] == [(1, False)]
    # A late redelivery of version 1 (another event id, no sequence to stop it) changes nothing.
    late = await publish(consuming_app, results(None, [cell(ft, "70"), cell(ns, "60")], version=1))
    await wait_for(lambda: applied(consuming_app, late), timeout=20)
    assert await survey_points(consuming_app) == points
    # Version 3 brings the suppressed county back.
    v3 = await publish(consuming_app, results(None, [cell(ft, "75"), cell(ns, "61")], version=3))
    await wait_for(lambda: applied(consuming_app, v3), timeout=20)
    points = await survey_points(consuming_app)
    assert current(points) == {ft: Decimal("75"), ns: Decimal("61")}
    assert [p.revision for p in points if p.object_id == ns] == [1, 2]


async def test_five_thousand_cells_in_one_event(consuming_app, world_of) -> None:
    _, world = world_of
    # 4,994 cells of objects no plan appraises are filtered out in SQL; the six counties count.
    cells = [cell(str(uuid.uuid4()), "50") for _ in range(4_994)] + [cell(o, "88") for o in world.objects.values()]
    event = await publish(consuming_app, results(world.plan["id"], cells))
    await wait_for(lambda: applied(consuming_app, event), timeout=60)
    assert current(await survey_points(consuming_app)) == {o: Decimal("88") for o in world.objects.values()}


async def test_an_event_with_two_cells_for_one_indicator_is_dead_lettered_untouched(consuming_app, world_of) -> None:
    _, world = world_of
    ft = world.objects["ft"]
    event = await publish(consuming_app, results(world.plan["id"], [cell(ft, "70"), cell(ft, "20")]))

    async def dead_lettered() -> bool:
        async with consuming_app.state.engine.connect() as conn:
            found = await conn.scalar(
                text("SELECT count(*) FROM appraisal.dead_letter WHERE event_id = :id"), {"id": event.id}
            )
        return bool(found)

    await wait_for(dead_lettered, timeout=40)
    assert await survey_points(consuming_app) == []


async def test_concurrent_ratings_of_one_assignment_leave_one_rating_and_log_both(consuming_app, world_of) -> None:
    api, world = world_of
    plan = await api.ok("GET", f"/plans/{world.plan['id']}")
    closes_at = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    await api.ok(
        "PATCH",
        f"/plans/{world.plan['id']}",
        json={"rating_closes_at": closes_at},
        headers={**api.office, "If-Match": f'"{plan["lock_version"]}"'},
    )
    assert (await api.transition(world.plan["id"], "targets_open")).status_code == 200
    body = {
        "items": [
            {
                "expert": "expert-li",
                "expert_org_path": "/gd/gz",
                "object_id": world.objects["ft"],
                "indicator_code": "Q1",
                "subject": "experts",
            }
        ]
    }
    (assignment,) = (await api.ok("POST", f"/plans/{world.plan['id']}/expert-assignments", 201, json=body))["ids"]
    expert = api.auth("expert", org_path="/gd/gz", subject="expert-li")
    path = f"/plans/{world.plan['id']}/expert-ratings/{assignment}"
    answers = await asyncio.gather(*(api.call("PUT", path, headers=expert, json={"grade": g}) for g in "ABCD"))
    assert [a.status_code for a in answers] == [200] * 4
    mine = await api.ok("GET", f"/plans/{world.plan['id']}/expert-ratings", params={"mine": "true"}, headers=expert)
    assert len(mine["items"]) == 1 and mine["items"][0]["grade"] in set("ABCD")
    async with consuming_app.state.engine.connect() as conn:
        logged = await conn.scalar(
            text("SELECT count(*) FROM appraisal.audit_log WHERE action = 'expert.rated' AND entity_id = :id"),
            {"id": assignment},
        )
        commitment = await conn.scalar(
            text("SELECT commitment FROM appraisal.expert_rating WHERE assignment_id = :id"), {"id": assignment}
        )
    assert logged == 4
    assert mine["items"][0]["commitment"] == commitment


async def test_concurrent_panels_and_withdrawals_on_one_row_do_not_double(consuming_app, world_of) -> None:
    api, world = world_of
    plan_id = world.plan["id"]
    row = {
        "expert": "expert-li",
        "expert_org_path": "/gd/gz",
        "object_id": world.objects["ft"],
        "indicator_code": "Q1",
        "subject": "experts",
    }
    path = f"/plans/{plan_id}/expert-assignments"
    answers = await asyncio.gather(*(api.call("POST", path, json={"items": [row]}) for _ in range(3)))
    # The plan row lock lines the batches up: one assignment, the others told it already exists.
    assert sorted(a.status_code for a in answers) == [201, 422, 422]
    assert len((await api.ok("GET", path))["items"]) == 1

    event = await api.receive_framework(VETO_FRAMEWORK)
    plan = await api.create_plan(world.city["id"], world.cycle_id, event.data["framework_id"], [world.objects["ft"]])
    body = {"object_id": world.objects["ft"], "code": "major_safety_accident", "description": "Report."}
    veto = await api.ok("POST", f"/plans/{plan['id']}/veto-events", 201, json=body)
    withdraw = f"/plans/{plan['id']}/veto-events/{veto['id']}/withdraw"
    answers = await asyncio.gather(*(api.call("POST", withdraw, json={"reason": f"reason {n}"}) for n in range(3)))
    assert sorted(a.status_code for a in answers) == [200, 409, 409]
    async with consuming_app.state.engine.connect() as conn:
        logged = await conn.scalar(
            text("SELECT count(*) FROM appraisal.audit_log WHERE action = 'veto.withdrawn' AND entity_id = :id"),
            {"id": veto["id"]},
        )
    assert logged == 1
