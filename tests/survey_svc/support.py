"""What a survey organizer, respondent and investigator do, as calls (shared by api and integration tests)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.survey_svc.analysis.service import analyse_job
from services.survey_svc.db import JOBS
from services.survey_svc.questionnaire import xlsform
from services.survey_svc.questionnaire.content import QuestionnaireContent
from shared import jobs

SZ = "/gd/sz"
ORG_UNIT = "00000000-0000-7000-8000-000000000001"
OBJECT_A = "00000000-0000-7000-8000-0000000000a1"
OBJECT_B = "00000000-0000-7000-8000-0000000000b1"
GRID = [f"g{i}" for i in range(1, 6)]

CONTENT: dict[str, Any] = {
    "title": "District services 2026",
    "description": "How satisfied are you with your district government?",
    "questions": [
        *(
            {
                "name": name,
                "type": "likert",
                "label": f"Service {name}",
                "required": True,
                "dimension": "service" if i < 3 else "integrity",
                "indicator_code": "S2" if i < 3 else "G7",
                "object_kind": "district_gov",
                "grid": "grid1",
            }
            for i, name in enumerate(GRID)
        ),
        {"name": "overall", "type": "scale_0_10", "label": "Overall, 0-10", "dimension": "overall_rating"},
        {
            "name": "contact",
            "type": "single_choice",
            "label": "Did you contact the office?",
            "choices": [{"name": "yes", "label": "Yes"}, {"name": "no", "label": "No"}],
            "choice_list": "yesno",
        },
        {
            "name": "channels",
            "type": "multiple_choice",
            "label": "How?",
            "choices": [{"name": "phone", "label": "Phone"}, {"name": "web", "label": "Web"}],
            "show_if": {"question": "contact", "equals": "yes"},
        },
        {"name": "comment", "type": "text", "label": "Anything else?"},
    ],
}


def good_answers(level: int = 4, **extra: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {name: level for name in GRID}
    answers[GRID[0]] = max(1, level - 1)  # not straight-lined
    return {**answers, "overall": 7, "contact": "no", **extra}


def assert_problem(response: httpx.Response, status: int, *fields: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    named = {e.get("field") for e in body.get("errors", [])}
    for field in fields:
        assert any(n == field or (n or "").endswith("." + field) for n in named), (field, body)
    return body


class SurveyApi:
    def __init__(self, client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]) -> None:
        self.client, self.auth = client, auth
        self.office = auth("perf_office", org_path=SZ, subject="office-sz")

    async def questionnaire(self, content: dict[str, Any] | None = None) -> dict[str, Any]:
        data = xlsform.to_xlsx(QuestionnaireContent.model_validate(content or CONTENT))
        r = await self.client.post(
            "/api/v1/questionnaires/import",
            params={"code": f"Q-{uuid.uuid4().hex[:8]}", "org_unit_id": ORG_UNIT, "org_path": SZ},
            content=data,
            headers=self.office,
        )
        assert r.status_code == 201, r.text
        published = await self.client.post(
            f"/api/v1/questionnaires/{r.json()['id']}/publish", headers={**self.office, "If-Match": r.headers["ETag"]}
        )
        assert published.status_code == 200, published.text
        return published.json()

    def campaign_body(self, questionnaire_id: str, **fields: Any) -> dict[str, Any]:
        today = dt.date.today()
        return {
            "code": f"C-{uuid.uuid4().hex[:8]}",
            "name": "District satisfaction 2026",
            "questionnaire_id": questionnaire_id,
            "org_unit_id": ORG_UNIT,
            "org_path": SZ,
            "objects": [{"id": OBJECT_A, "name": "Futian district"}, {"id": OBJECT_B, "name": "Nanshan district"}],
            "cells": [
                {"respondent_group": "urban_residents", "region": "ft", "population_share": 0.6, "quota": 10},
                {"respondent_group": "enterprises", "region": "ft", "population_share": 0.4, "quota": 10},
            ],
            "fieldwork_start": (today - dt.timedelta(days=1)).isoformat(),
            "fieldwork_end": (today + dt.timedelta(days=30)).isoformat(),
            "min_cell_size": 3,
            **fields,
        }

    async def campaign_in_fieldwork(self, **fields: Any) -> dict[str, Any]:
        questionnaire = await self.questionnaire()
        r = await self.client.post(
            "/api/v1/campaigns", json=self.campaign_body(questionnaire["id"], **fields), headers=self.office
        )
        assert r.status_code == 201, r.text
        for to in ("approved", "fieldwork"):
            moved_json = await self.move(r.json()["id"], to)
        return moved_json

    async def tokens(
        self, campaign_id: str, count: int, group: str = "urban_residents", object_id: str = OBJECT_A
    ) -> list[str]:
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10)).isoformat()
        r = await self.client.post(
            f"/api/v1/campaigns/{campaign_id}/token-batches",
            json={
                "respondent_group": group,
                "region": "ft",
                "object_id": object_id,
                "count": count,
                "expires_at": expires,
            },
            headers=self.office,
        )
        assert r.status_code == 201, r.text
        rows = list(csv.DictReader(io.StringIO(r.text)))
        return [row["token"] for row in rows]

    async def submit(self, token: str, answers: dict[str, Any] | None = None, **fields: Any) -> httpx.Response:
        body = {"token": token, "answers": good_answers() if answers is None else answers, **fields}
        return await self.client.post("/public/surveys/responses", json=body)

    async def analyse(self, campaign_id: str, db: AsyncSession) -> dict[str, Any]:
        """Request an analysis (a job), run it, and return the newest analysis.

        The job runs through its real handler but in the test's own transaction: the service's
        worker, on its own connections, cannot see the rolled-back test data (tests/survey_svc/
        integration runs the real worker)."""
        r = await self.client.post(f"/api/v1/campaigns/{campaign_id}/analyses", headers=self.office)
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["Location"] == f"/api/v1/jobs/{job['id']}" and job["status"] in ("queued", "running")
        row = (await db.execute(select(JOBS).where(JOBS.c.id == job["id"]))).one()

        async def no_progress(fraction: float) -> None:
            return None

        result = await analyse_job(db, jobs.Job.of(row), no_progress)
        await db.execute(update(JOBS).where(JOBS.c.id == job["id"]).values(status="succeeded", result=result))
        done = await self.client.get(f"/api/v1/jobs/{job['id']}", headers=self.office)
        assert done.status_code == 200 and done.json()["status"] == "succeeded", done.text
        latest = await self.client.get(f"/api/v1/campaigns/{campaign_id}/analyses/latest", headers=self.office)
        assert latest.status_code == 200, latest.text
        assert latest.json()["version"] == done.json()["result"]["analysis_version"]
        return dict(latest.json())

    async def etag(self, campaign_id: str) -> str:
        r = await self.client.get(f"/api/v1/campaigns/{campaign_id}", headers=self.office)
        assert r.status_code == 200, r.text
        return r.headers["ETag"]

    async def publish(self, campaign_id: str) -> httpx.Response:
        headers = {**self.office, "If-Match": await self.etag(campaign_id)}
        return await self.client.post(f"/api/v1/campaigns/{campaign_id}/publish", headers=headers)

    async def move(self, campaign_id: str, to: str) -> dict[str, Any]:
        headers = {**self.office, "If-Match": await self.etag(campaign_id)}
        r = await self.client.post(f"/api/v1/campaigns/{campaign_id}/transitions", json={"to": to}, headers=headers)
        assert r.status_code == 200, r.text
        return r.json()
