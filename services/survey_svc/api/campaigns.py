"""REST routes of campaigns: design, life cycle, tokens, quotas, interviews, analysis, publication."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.survey_svc.analysis import service as analysis_service
from services.survey_svc.campaign import service
from services.survey_svc.campaign.models import Campaign, CampaignStatus
from services.survey_svc.campaign.schemas import (
    CampaignCreate,
    CampaignPage,
    CampaignRead,
    CampaignTransition,
    CampaignUpdate,
    QuotaAssign,
    QuotaList,
    QuotaRead,
    TokenBatchCreate,
)
from services.survey_svc.config import Settings
from services.survey_svc.db import TABLES
from services.survey_svc.response import service as responses
from services.survey_svc.response.schemas import InterviewSubmission, Receipt
from shared import idempotency, jobs
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import Role
from shared.errors import Forbidden, Unprocessable
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def campaign_response(campaign: Campaign, response: Response) -> CampaignRead:
    response.headers["ETag"] = f'"{campaign.lock_version}"'
    return CampaignRead.model_validate(campaign)


class AnalysisRead(BaseModel):
    id: uuid.UUID
    campaign_id: uuid.UUID
    version: int
    method: str
    results_hash: str
    results: dict[str, Any]


class ResponseLogCheck(BaseModel):
    """The response log's chain (all campaigns) and this campaign's responses against it."""

    log_valid: bool
    log_entries: int
    first_broken_seq: int | None
    problem: str | None
    sealed: int
    unsealed: int
    altered: list[str] = Field(description="Responses whose content no longer matches their sealed hash.")
    missing: list[str] = Field(description="Sealed responses that are gone.")

    @property
    def intact(self) -> bool:
        return self.log_valid and not self.altered and not self.missing


class IntegrityReport(BaseModel):
    campaign_id: uuid.UUID
    intact: bool
    responses: ResponseLogCheck
    tokens: dict[str, int]
    quotas: list[QuotaRead]
    flagged: dict[str, int] | None = Field(description="From the newest analysis; null before the first.")


class QuotaAssignList(BaseModel):
    items: Annotated[list[QuotaAssign], Field(min_length=1, max_length=1000)]
    model_config = {"extra": "forbid"}


def quota_reads(rows: list[Any]) -> QuotaList:
    return QuotaList(
        items=[
            QuotaRead(
                investigator=r.investigator,
                respondent_group=r.respondent_group,
                region=r.region,
                quota=r.quota,
                used=r.used,
                overflow=max(0, r.used - r.quota),
            )
            for r in rows
        ]
    )


@router.post("/campaigns", status_code=201, response_model=CampaignRead, name="create")
async def create_campaign(
    request: Request,
    data: CampaignCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a draft campaign over a published questionnaire version."""

    async def created() -> dict[str, Any]:
        campaign = await service.create_campaign(session, principal=principal, data=data)
        return CampaignRead.model_validate(campaign).model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json")),
        create=created,
        location="/api/v1/campaigns/{id}",
    )


@router.get("/campaigns", response_model=CampaignPage, name="list")
async def list_campaigns(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    status: CampaignStatus | None = None,
    ids: Annotated[str | None, Query(max_length=20_000)] = None,
) -> CampaignPage:
    """Campaigns you may read (published ones, and those of your subtree); ``ids`` batch-reads."""
    items, next_cursor = await service.list_campaigns(
        session, principal=principal, page=page, status=status, ids=parse_ids(ids)
    )
    return CampaignPage(items=[CampaignRead.model_validate(c) for c in items], next_cursor=next_cursor)


@router.get("/campaigns/{campaign_id}", response_model=CampaignRead, name="get")
async def get_campaign(
    campaign_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> CampaignRead:
    """Read one campaign; its ETag is the version to send back in If-Match."""
    return campaign_response(
        await service.get_campaign(session, principal=principal, campaign_id=campaign_id), response
    )


@router.patch("/campaigns/{campaign_id}", response_model=CampaignRead, name="update")
async def update_campaign(
    campaign_id: uuid.UUID,
    data: CampaignUpdate,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> CampaignRead:
    """Change a draft campaign's design."""
    campaign = await service.update_campaign(
        session,
        principal=principal,
        campaign_id=campaign_id,
        data=data,
        expected_version=expected_version(if_match, data.version),
    )
    return campaign_response(campaign, response)


@router.post("/campaigns/{campaign_id}/transitions", response_model=CampaignRead, name="transition")
async def transition_campaign(
    campaign_id: uuid.UUID,
    data: CampaignTransition,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> CampaignRead:
    """Move a campaign on: draft -> approved -> fieldwork -> closed."""
    campaign = await service.transition(
        session, principal=principal, campaign_id=campaign_id, to=data.to, expected_version=expected_version(if_match)
    )
    if data.to == "closed":
        await responses.seal_pending(session, campaign.id)  # the log is complete when fieldwork ends
    return campaign_response(campaign, response)


@router.post(
    "/campaigns/{campaign_id}/token-batches",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {"text/csv": {}}, "description": "The new tokens, shown this once."}},
    name="issue_tokens",
)
async def issue_token_batch(
    request: Request,
    campaign_id: uuid.UUID,
    data: TokenBatchCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Issue single-use tokens for one cell and object; the CSV is the only copy of the tokens in
    clear. With an Idempotency-Key (at least 32 characters) a retry gets the same batch back."""
    settings = settings_of(request)
    if data.count > settings.max_tokens_per_batch:
        raise Unprocessable(
            f"At most {settings.max_tokens_per_batch} tokens per batch.",
            errors=[{"field": "count", "message": "too many"}],
        )
    key = settings.survey_token_key.get_secret_value().encode()
    if idempotency_key is None:
        body = await service.issue_tokens(session, principal=principal, campaign_id=campaign_id, data=data, key=key)
    else:
        body = await service.issue_tokens_once(
            session,
            principal=principal,
            campaign_id=campaign_id,
            data=data,
            key=key,
            idempotency_key=idempotency_key,
            fingerprint=idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json")),
        )
    return Response(
        body,
        status_code=201,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="tokens.csv"', "Cache-Control": "no-store"},
    )


@router.put("/campaigns/{campaign_id}/quotas", response_model=QuotaList, name="assign_quotas")
async def assign_quotas(
    campaign_id: uuid.UUID, data: QuotaAssignList, session: DBSession, principal: CurrentPrincipal
) -> QuotaList:
    """Set investigators' quotas per cell (existing ones are replaced, counts kept)."""
    rows = await service.assign_quotas(session, principal=principal, campaign_id=campaign_id, quotas=data.items)
    return quota_reads(rows)


@router.get("/campaigns/{campaign_id}/quotas", response_model=QuotaList, name="list_quotas")
async def list_quotas(campaign_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> QuotaList:
    """Quota fill per investigator and cell (an investigator sees only their own)."""
    campaign = await service.get_campaign(session, principal=principal, campaign_id=campaign_id)
    if principal.has_any(service.INTEGRITY_READERS) and principal.in_scope(campaign.org_path):
        return quota_reads(await service.list_quotas(session, campaign_id=campaign.id))
    if principal.has_any({Role.investigator}):
        return quota_reads(await service.list_quotas(session, campaign_id=campaign.id, investigator=principal.subject))
    raise Forbidden("Quotas are for the organizers, the auditors and the investigators themselves.")


@router.post("/campaigns/{campaign_id}/interviews", status_code=201, response_model=Receipt, name="submit_interview")
async def submit_interview(
    request: Request, campaign_id: uuid.UUID, data: InterviewSubmission, session: DBSession, principal: CurrentPrincipal
) -> Receipt:
    """An investigator's interview; beyond the quota it is stored and marked, not counted."""
    salt = settings_of(request).survey_device_salt.get_secret_value().encode()
    return await responses.submit_interview(session, principal=principal, salt=salt, campaign_id=campaign_id, data=data)


class JobRead(BaseModel):
    id: uuid.UUID
    kind: str
    subject: str
    status: str
    progress: float
    result: dict[str, Any] | None
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


def job_read(job: jobs.Job) -> JobRead:
    return JobRead.model_validate({**job.__dict__, "progress": float(job.progress)})


@router.post("/campaigns/{campaign_id}/analyses", status_code=202, response_model=JobRead, name="analyse")
async def request_analysis(
    request: Request, campaign_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> JobRead:
    """Analyse a closed campaign as a job: each run is a new analysis version (a correction never
    edits an old one). Poll the job at its Location; its result names the analysis version."""
    job = await analysis_service.request_analysis(session, principal=principal, campaign_id=campaign_id)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    worker = getattr(request.app.state, "job_worker", None)
    if worker is not None:
        worker.wake()
    return job_read(job)


@router.get("/jobs/{job_id}", response_model=JobRead, name="get_job")
async def get_job(job_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> JobRead:
    """A job's status, progress and result (organizers, audit and supervision of its campaign)."""
    return job_read(await analysis_service.get_job(session, principal=principal, job_id=job_id))


@router.get("/campaigns/{campaign_id}/analyses/latest", response_model=AnalysisRead, name="get_latest_analysis")
async def get_latest_analysis(campaign_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> AnalysisRead:
    """The newest analysis (outside the organizing subtree: the published one)."""
    analysis = await analysis_service.latest_analysis(session, principal=principal, campaign_id=campaign_id)
    return AnalysisRead.model_validate(analysis, from_attributes=True)


@router.post("/campaigns/{campaign_id}/publish", response_model=CampaignRead, name="publish")
async def publish_campaign(
    campaign_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> CampaignRead:
    """Publish the newest analysis: public report, and survey.results.finalized to appraisal."""
    campaign = await analysis_service.publish_campaign(
        session, principal=principal, campaign_id=campaign_id, expected_version=expected_version(if_match)
    )
    return campaign_response(campaign, response)


@router.get("/campaigns/{campaign_id}/integrity", response_model=IntegrityReport, name="get_integrity_report")
async def get_integrity_report(
    campaign_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> IntegrityReport:
    """Chain check, token use, quota fill and quality flags (organizers, audit, supervision)."""
    campaign = await service.get_campaign(session, principal=principal, campaign_id=campaign_id)
    if not (principal.has_any(service.INTEGRITY_READERS) and principal.in_scope(campaign.org_path)):
        raise Forbidden("Integrity reports are for the organizers, audit and supervision of this unit.")
    check = ResponseLogCheck(**(await responses.check_campaign(session, campaign.id)).__dict__)
    flagged = None
    if campaign.analysis_version:
        flagged = (await analysis_service.get_analysis(session, campaign.id, campaign.analysis_version)).results[
            "flagged"
        ]
    return IntegrityReport(
        campaign_id=campaign.id,
        intact=check.intact,
        responses=check,
        tokens=await service.token_counts(session, campaign.id),
        quotas=quota_reads(await service.list_quotas(session, campaign_id=campaign.id)).items,
        flagged=flagged,
    )


MAX_CAMPAIGNS_PER_BATCH = 100


class CampaignQuotaRead(QuotaRead):
    campaign_id: uuid.UUID


class CampaignQuotaList(BaseModel):
    items: list[CampaignQuotaRead]


class IndexRead(BaseModel):
    campaign_id: uuid.UUID
    analysis_version: int
    object_id: uuid.UUID
    object_name: str
    dimension: str
    indicator_code: str | None
    respondent_group: str | None
    n: int
    suppressed: bool
    index: str | None
    ci_low: str | None
    ci_high: str | None


class IndexList(BaseModel):
    items: list[IndexRead]


@router.get("/quotas", response_model=CampaignQuotaList, name="batch_quotas")
async def batch_quotas(
    session: DBSession, principal: CurrentPrincipal, campaign_ids: Annotated[str, Query(max_length=4_000)]
) -> CampaignQuotaList:
    """Quota fill of many campaigns at once (for DataLoaders); campaigns you may not see are left out."""
    ids = parse_ids(campaign_ids, field="campaign_ids", max_ids=MAX_CAMPAIGNS_PER_BATCH) or []
    rows = await service.quotas_of_readable(session, principal=principal, campaign_ids=ids)
    return CampaignQuotaList(
        items=[CampaignQuotaRead(campaign_id=r.campaign_id, **quota_reads([r]).items[0].model_dump()) for r in rows]
    )


@router.get("/indices", response_model=IndexList, name="batch_indices")
async def batch_indices(
    session: DBSession, principal: CurrentPrincipal, campaign_ids: Annotated[str, Query(max_length=4_000)]
) -> IndexList:
    """Indices of many campaigns at once (for DataLoaders): the published analysis, or inside the
    organizing subtree the newest one; campaigns without one you may read are left out."""
    ids = parse_ids(campaign_ids, field="campaign_ids", max_ids=MAX_CAMPAIGNS_PER_BATCH) or []
    analyses = await analysis_service.readable_analyses(session, principal=principal, campaign_ids=ids)
    return IndexList(
        items=[
            IndexRead(campaign_id=a.campaign_id, analysis_version=a.version, **cell)
            for a in analyses
            for cell in a.results["cells"]
        ]
    )
