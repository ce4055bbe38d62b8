"""Analysis and publication of a campaign. Functions flush; the caller commits."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import Float, cast, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.survey_svc.analysis import logic
from services.survey_svc.analysis.models import Analysis
from services.survey_svc.campaign import logic as campaign_logic
from services.survey_svc.campaign.events import SURVEY_RESULTS_FINALIZED, SatisfactionCell, SurveyResultsFinalized
from services.survey_svc.campaign.models import Campaign
from services.survey_svc.campaign.service import (
    INTEGRITY_READERS,
    can_read,
    get_campaign,
    get_organized,
    get_organized_at,
    token_counts,
)
from services.survey_svc.db import JOBS, TABLES
from services.survey_svc.questionnaire.content import QuestionnaireContent, QuestionType
from services.survey_svc.questionnaire.service import published_content
from services.survey_svc.response.models import Response
from services.survey_svc.response.service import seal_pending
from shared import hashchain, jobs
from shared.auth.principal import Principal
from shared.db import utcnow
from shared.errors import Conflict, NotFound
from shared.events import make_event
from shared.ids import new_id
from shared.messaging import outbox

SOURCE = "govperf/survey"
MAX_EVENT_CELLS = 5000


def design_of(campaign: Campaign, content: QuestionnaireContent) -> logic.Design:
    rated = content.rated
    dimensions = list(dict.fromkeys(q.dimension for q in rated if q.dimension))
    grids: dict[str, list[int]] = {}
    for column, q in enumerate(rated):
        if q.grid:
            grids.setdefault(q.grid, []).append(column)
    groups = list(dict.fromkeys(c["respondent_group"] for c in campaign.cells))
    regions = list(dict.fromkeys(c["region"] for c in campaign.cells))
    return logic.Design(
        cell_group=np.array([groups.index(c["respondent_group"]) for c in campaign.cells], dtype=np.int64),
        cell_region=np.array([regions.index(c["region"]) for c in campaign.cells], dtype=np.int64),
        cell_share=np.array([float(c["population_share"]) for c in campaign.cells]),
        n_objects=len(campaign.objects),
        n_groups=len(groups),
        dimensions=dimensions,
        dimension_columns=[[i for i, q in enumerate(rated) if q.dimension == d] for d in dimensions],
        grids=list(grids.values()),
        min_cell_size=campaign.min_cell_size,
        max_weight_ratio=campaign.max_weight_ratio,
    )


async def load_sample(session: AsyncSession, campaign: Campaign, content: QuestionnaireContent) -> logic.Sample:
    """One set-based read: every rated answer comes out of JSONB as a float column in SQL."""
    rated = content.rated
    stmt = (
        select(
            Response.respondent_group,
            Response.region,
            Response.object_id,
            Response.duration_seconds,
            Response.device_hash,
            Response.over_quota,
            *(cast(Response.answers[q.name].astext, Float) for q in rated),
        )
        .where(Response.campaign_id == campaign.id)
        .order_by(Response.id)
    )
    rows = (await session.execute(stmt)).all()
    cell_index = {(c["respondent_group"], c["region"]): i for i, c in enumerate(campaign.cells)}
    object_index = {uuid.UUID(o["id"]): i for i, o in enumerate(campaign.objects)}
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * (6 + len(rated))
    raw = np.array(columns[6:], dtype=np.float64).T.reshape(n, len(rated)) if n else np.empty((0, len(rated)))
    likert = np.array([q.type == QuestionType.likert for q in rated])
    scores = np.where(likert, (raw - 1.0) * 25.0, raw * 10.0)
    devices = np.array([d or "" for d in columns[4]], dtype=object)
    codes = np.full(n, -1, dtype=np.int64)
    if n:
        _, inverse = np.unique(devices.astype(str), return_inverse=True)
        codes = np.where(devices != "", inverse, -1).astype(np.int64)
    return logic.Sample(
        cell=np.array([cell_index[(g, r)] for g, r in zip(columns[0], columns[1], strict=True)], dtype=np.int64),
        obj=np.array([object_index[o] for o in columns[2]], dtype=np.int64),
        scores=scores,
        durations=np.array([np.nan if d is None else d for d in columns[3]], dtype=np.float64),
        device=codes,
        over_quota=np.array(columns[5], dtype=bool),
    )


def _number(value: float | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.000001")))


def results_document(
    campaign: Campaign, content: QuestionnaireContent, result: logic.AnalysisResult, tokens: dict[str, int]
) -> dict[str, Any]:
    indicator_of: dict[str, str] = {}
    for q in content.rated:
        if q.dimension and q.indicator_code:
            indicator_of.setdefault(q.dimension, q.indicator_code)
    groups = list(dict.fromkeys(c["respondent_group"] for c in campaign.cells))
    return {
        "method": result.method,
        "responses_total": result.responses_total,
        "responses_valid": result.responses_valid,
        "responses_rejected": result.responses_total - result.responses_valid,
        "flagged": result.excluded,
        "weights": {
            "min": _number(result.weight_min),
            "max": _number(result.weight_max),
            "design_effect": _number(result.design_effect),
            "max_weight_ratio": campaign.max_weight_ratio,
        },
        "tokens": tokens,
        "min_cell_size": campaign.min_cell_size,
        "cells": [
            {
                "object_id": campaign.objects[c.obj]["id"],
                "object_name": campaign.objects[c.obj]["name"],
                "dimension": c.dimension,
                "indicator_code": indicator_of.get(c.dimension),
                "respondent_group": None if c.group is None else groups[c.group],
                "n": c.n,
                "n_eff": _number(c.n_eff),
                "suppressed": c.suppressed,
                "index": _number(c.index),
                "ci_low": _number(c.ci_low),
                "ci_high": _number(c.ci_high),
            }
            for c in result.cells
        ],
    }


ANALYSE = "survey.analyse"


async def request_analysis(session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID) -> jobs.Job:
    """Queue an analysis of a closed campaign as a job (or return the one already queued or running)."""
    campaign = await get_organized(session, principal=principal, campaign_id=campaign_id)
    if campaign_logic.next_status(campaign.status, "analyse") is None:
        raise Conflict(f"A {campaign.status} campaign cannot be analysed; close its fieldwork first.")
    job, _ = await jobs.enqueue(
        session, JOBS, kind=ANALYSE, subject=str(campaign.id), params={}, created_by=principal.subject
    )
    return job


async def get_job(session: AsyncSession, *, principal: Principal, job_id: uuid.UUID) -> jobs.Job:
    """A job of a campaign the caller organizes or audits (others get a 404)."""
    job = await jobs.get(session, JOBS, job_id)
    if job is None:
        raise NotFound("No such job.")
    campaign = await session.get(Campaign, uuid.UUID(job.subject))
    if campaign is None or not (principal.has_any(INTEGRITY_READERS) and principal.in_scope(campaign.org_path)):
        raise NotFound("No such job.")
    return job


async def analyse_job(
    session: AsyncSession, job: jobs.Job, report: Callable[[float], Awaitable[None]]
) -> dict[str, Any]:
    """The job handler: the worker commits the analysis and the job's success together."""
    analysis = await run_analysis(session, campaign_id=uuid.UUID(job.subject), created_by=job.created_by)
    return {"analysis_id": str(analysis.id), "analysis_version": analysis.version}


async def run_analysis(session: AsyncSession, *, campaign_id: uuid.UUID, created_by: str) -> Analysis:
    """A new analysis version over every response recorded (flagged ones excluded). Authorization
    happened when the job was requested; the campaign's state is checked again under its lock."""
    campaign = await session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())
    if campaign is None:
        raise NotFound("No such campaign.")
    status = campaign_logic.next_status(campaign.status, "analyse")
    if status is None:
        raise Conflict(f"A {campaign.status} campaign cannot be analysed; close its fieldwork first.")
    await seal_pending(session, campaign.id)  # whatever the periodic sealer has not reached yet
    content = await published_content(session, campaign.questionnaire_id)
    sample = await load_sample(session, campaign, content)
    # Off the event loop: a large campaign's arithmetic must not stall other requests.
    result = await asyncio.to_thread(logic.analyse, sample, design_of(campaign, content))
    document = results_document(campaign, content, result, await token_counts(session, campaign.id))
    campaign.analysis_version += 1
    campaign.status = status
    campaign.lock_version += 1
    campaign.updated_at = utcnow()
    analysis = Analysis(
        id=new_id(),
        campaign_id=campaign.id,
        version=campaign.analysis_version,
        method=result.method,
        results=document,
        results_hash=hashlib.sha256(hashchain.canonical_json(document).encode()).hexdigest(),
        created_by=created_by,
    )
    session.add(analysis)
    await session.flush()
    return analysis


async def get_analysis(session: AsyncSession, campaign_id: uuid.UUID, version: int | None) -> Analysis:
    if version is None:
        raise NotFound("This campaign has no analysis yet.")
    found = await session.scalar(
        select(Analysis).where(Analysis.campaign_id == campaign_id, Analysis.version == version)
    )
    if found is None:
        raise NotFound("No such analysis.")
    return found


async def latest_analysis(session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID) -> Analysis:
    campaign = await get_campaign(session, principal=principal, campaign_id=campaign_id)
    # Outside the organizers, audit and supervision of the subtree only the published one is visible.
    inside = principal.has_any(INTEGRITY_READERS) and principal.in_scope(campaign.org_path)
    return await get_analysis(
        session, campaign.id, campaign.analysis_version or None if inside else campaign.published_analysis_version
    )


def finalized_payload(campaign: Campaign, analysis: Analysis) -> SurveyResultsFinalized:
    results = analysis.results
    # The all-groups cells first (the ones appraisal scores), then per group while they fit.
    ordered = sorted(results["cells"], key=lambda c: c["respondent_group"] is not None)[:MAX_EVENT_CELLS]
    cells = [
        SatisfactionCell(
            object_id=uuid.UUID(c["object_id"]),
            dimension=c["dimension"],
            indicator_code=c["indicator_code"],
            respondent_group=c["respondent_group"],
            n=c["n"],
            suppressed=c["suppressed"],
            index=None if c["suppressed"] else Decimal(c["index"]),
            ci_low=None if c["suppressed"] else Decimal(c["ci_low"]),
            ci_high=None if c["suppressed"] else Decimal(c["ci_high"]),
        )
        for c in ordered
    ]
    return SurveyResultsFinalized(
        campaign_id=campaign.id,
        analysis_version=analysis.version,
        questionnaire_id=campaign.questionnaire_id,
        questionnaire_version=campaign.questionnaire_version,
        organizer_org_path=campaign.org_path,
        cycle_label=campaign.cycle_label,
        plan_id=campaign.plan_id,
        fieldwork_start=campaign.fieldwork_start,
        fieldwork_end=campaign.fieldwork_end,
        method=analysis.method,
        responses_valid=results["responses_valid"],
        responses_rejected=results["responses_rejected"],
        min_cell_size=campaign.min_cell_size,
        results_hash=analysis.results_hash,
        finalized_at=utcnow(),
        cells=cells,
    )


async def publish_campaign(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, expected_version: int | None
) -> Campaign:
    """Publish the newest analysis: the public report appears and survey.results.finalized goes out."""
    campaign = await get_organized_at(
        session, principal=principal, campaign_id=campaign_id, expected_version=expected_version
    )
    status = campaign_logic.next_status(campaign.status, "publish")
    if status is None:
        raise Conflict(f"A {campaign.status} campaign cannot be published; analyse it first.")
    analysis = await get_analysis(session, campaign.id, campaign.analysis_version)
    payload = finalized_payload(campaign, analysis)
    await outbox.add(
        session, TABLES, make_event(SURVEY_RESULTS_FINALIZED, payload, source=SOURCE, subject=str(campaign.id))
    )
    campaign.status = status
    campaign.published_analysis_version = analysis.version
    campaign.published_at = payload.finalized_at
    campaign.lock_version += 1
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def published(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[Campaign, Analysis]:
    """A published campaign and its published analysis, for the public report."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or campaign.published_analysis_version is None:
        raise NotFound("No published survey report with this id.")
    return campaign, await get_analysis(session, campaign.id, campaign.published_analysis_version)


async def readable_analyses(
    session: AsyncSession, *, principal: Principal, campaign_ids: list[uuid.UUID]
) -> list[Analysis]:
    """Per campaign the analysis the caller may read: the newest inside the organizing subtree
    (organizers, audit, supervision), else the published one."""
    campaigns = (await session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))).all()
    wanted = []
    for c in campaigns:
        if not can_read(principal, c):
            continue
        inside = principal.has_any(INTEGRITY_READERS) and principal.in_scope(c.org_path)
        version = (c.analysis_version or None) if inside else c.published_analysis_version
        if version is not None:
            wanted.append((c.id, version))
    if not wanted:
        return []
    found = await session.scalars(select(Analysis).where(tuple_(Analysis.campaign_id, Analysis.version).in_(wanted)))
    return sorted(found.all(), key=lambda a: str(a.campaign_id))
