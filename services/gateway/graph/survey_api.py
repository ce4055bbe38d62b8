"""The survey part of the graph: questionnaires, campaigns with their quota fill and indices.

Every call goes to survey_svc's REST API with the caller's own token (the service authorizes it),
and every relation is batched: a page of campaigns with their questionnaires, quotas and indices
costs four service calls however many campaigns it holds. The client and loaders are made once
per GraphQL request, on first use."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strawberry
from fastapi import Request
from pydantic import BaseModel, ConfigDict
from strawberry.dataloader import DataLoader

from services.gateway.graph.context import GraphInfo
from services.gateway.graph.errors import BAD_USER_INPUT, UNAVAILABLE, GraphError, error_for_status
from services.gateway.graph.types import documented_field
from services.gateway.upstream import UpstreamFailure, Upstreams, get_upstreams
from shared.errors import NotFound

log = logging.getLogger("govperf.gateway.graph")

SERVICE = "survey"
# The service's caps: ``?ids=`` and ``limit`` take at most 500, ``?campaign_ids=`` at most 100.
MAX_IDS_PER_CALL = 500
MAX_CAMPAIGNS_PER_CALL = 100
MAX_PAGE_SIZE = 100
MAX_CURSOR_CHARS = 64


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # the service may add fields


class QuestionnaireRecord(_Record):
    id: uuid.UUID
    code: str
    version: int
    status: str
    org_path: str
    content: dict[str, Any]
    content_hash: str | None
    published_at: dt.datetime | None


class CampaignRecord(_Record):
    id: uuid.UUID
    code: str
    name: str
    status: str
    org_path: str
    questionnaire_id: uuid.UUID
    fieldwork_start: dt.date
    fieldwork_end: dt.date
    min_cell_size: int
    analysis_version: int
    published_analysis_version: int | None


class QuotaRecord(_Record):
    campaign_id: uuid.UUID
    investigator: str
    respondent_group: str
    region: str
    quota: int
    used: int
    overflow: int


class IndexRecord(_Record):
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


class SurveyApi:
    """survey_svc seen with one caller's credentials."""

    def __init__(self, upstreams: Upstreams, headers: dict[str, str]) -> None:
        self._upstreams, self._headers = upstreams, headers

    async def get(self, path: str, params: dict[str, str | int]) -> Any:
        try:
            response = await self._upstreams.get(SERVICE, path, params=params, headers=self._headers)
        except NotFound:
            raise GraphError(UNAVAILABLE, "The survey service is unavailable.") from None
        except UpstreamFailure as exc:
            log.warning("graph: %s unreachable: %s", SERVICE, exc)
            raise GraphError(UNAVAILABLE, "The survey service is unavailable.") from None
        if response.status != 200:
            try:
                body = response.json()
            except ValueError:
                body = None
            detail = body.get("detail") if isinstance(body, dict) else None
            raise error_for_status(response.status, detail if isinstance(detail, str) else None)
        return response.json()

    async def items(self, path: str, ids: Sequence[uuid.UUID], name: str = "ids") -> list[Any]:
        params: dict[str, str | int] = {name: ",".join(map(str, ids))}
        if name == "ids":
            params["limit"] = MAX_IDS_PER_CALL
        body = await self.get(path, params)
        return list(body["items"])


@dataclass(frozen=True)
class SurveyLoaders:
    questionnaire_by_id: DataLoader[uuid.UUID, QuestionnaireRecord | None]
    campaign_by_id: DataLoader[uuid.UUID, CampaignRecord | None]
    quotas_by_campaign: DataLoader[uuid.UUID, list[QuotaRecord]]
    indices_by_campaign: DataLoader[uuid.UUID, list[IndexRecord]]


def build_survey_loaders(api: SurveyApi) -> SurveyLoaders:
    async def questionnaires(ids: list[uuid.UUID]) -> list[QuestionnaireRecord | None]:
        found = {
            r.id: r for r in map(QuestionnaireRecord.model_validate, await api.items("/api/v1/questionnaires", ids))
        }
        return [found.get(i) for i in ids]

    async def campaigns(ids: list[uuid.UUID]) -> list[CampaignRecord | None]:
        found = {r.id: r for r in map(CampaignRecord.model_validate, await api.items("/api/v1/campaigns", ids))}
        return [found.get(i) for i in ids]

    async def quotas(ids: list[uuid.UUID]) -> list[list[QuotaRecord]]:
        grouped: dict[uuid.UUID, list[QuotaRecord]] = defaultdict(list)
        for item in await api.items("/api/v1/quotas", ids, "campaign_ids"):
            record = QuotaRecord.model_validate(item)
            grouped[record.campaign_id].append(record)
        return [grouped.get(i, []) for i in ids]

    async def indices(ids: list[uuid.UUID]) -> list[list[IndexRecord]]:
        grouped: dict[uuid.UUID, list[IndexRecord]] = defaultdict(list)
        for item in await api.items("/api/v1/indices", ids, "campaign_ids"):
            record = IndexRecord.model_validate(item)
            grouped[record.campaign_id].append(record)
        return [grouped.get(i, []) for i in ids]

    return SurveyLoaders(
        questionnaire_by_id=DataLoader(questionnaires, max_batch_size=MAX_IDS_PER_CALL),
        campaign_by_id=DataLoader(campaigns, max_batch_size=MAX_IDS_PER_CALL),
        quotas_by_campaign=DataLoader(quotas, max_batch_size=MAX_CAMPAIGNS_PER_CALL),
        indices_by_campaign=DataLoader(indices, max_batch_size=MAX_CAMPAIGNS_PER_CALL),
    )


@dataclass(frozen=True)
class SurveyGraph:
    api: SurveyApi
    loaders: SurveyLoaders


def survey_graph(info: GraphInfo) -> SurveyGraph:
    """This request's survey client and loaders, made on first use."""
    context = info.context
    graph: SurveyGraph | None = getattr(context, "survey_graph", None)
    if graph is None:
        # Imported here: the router module imports the schema, which imports this module.
        from services.gateway.graph.router import forwarded_headers

        request = context.request
        assert isinstance(request, Request)  # GraphQL over HTTP only (no subscriptions)
        api = SurveyApi(get_upstreams(request.app), forwarded_headers(request))
        graph = SurveyGraph(api, build_survey_loaders(api))
        context.survey_graph = graph  # type: ignore[attr-defined]
    return graph


@strawberry.enum(description="Lifecycle of a survey campaign.")
class CampaignStatus(Enum):
    DRAFT = "draft"
    APPROVED = "approved"
    FIELDWORK = "fieldwork"
    CLOSED = "closed"
    ANALYSED = "analysed"
    PUBLISHED = "published"


@strawberry.type(description="One version of a survey questionnaire.")
class Questionnaire:
    id: uuid.UUID
    code: str
    version: int
    status: str
    org_path: str
    title: str
    question_count: int
    content_hash: str | None
    published_at: dt.datetime | None

    @classmethod
    def from_record(cls, r: QuestionnaireRecord) -> Questionnaire:
        return cls(
            id=r.id,
            code=r.code,
            version=r.version,
            status=r.status,
            org_path=r.org_path,
            title=str(r.content.get("title", "")),
            question_count=len(r.content.get("questions", [])),
            content_hash=r.content_hash,
            published_at=r.published_at,
        )


@strawberry.type(description="An investigator's quota in one cell, and how much of it is used.")
class QuotaFill:
    investigator: str
    respondent_group: str
    region: str
    quota: int
    used: int
    overflow: int = strawberry.field(description="Interviews beyond the quota: stored, marked, not counted.")


@strawberry.type(description="A weighted satisfaction index with its 95% interval; null numbers when suppressed.")
class SatisfactionIndex:
    object_id: uuid.UUID
    object_name: str
    dimension: str
    indicator_code: str | None
    respondent_group: str | None = strawberry.field(description="null: all respondent groups.")
    n: int
    suppressed: bool
    index: str | None
    ci_low: str | None
    ci_high: str | None
    analysis_version: int


@strawberry.type(description="A survey campaign.")
class Campaign:
    id: uuid.UUID
    code: str
    name: str
    status: CampaignStatus
    org_path: str
    fieldwork_start: dt.date
    fieldwork_end: dt.date
    min_cell_size: int
    analysis_version: int
    published_analysis_version: int | None
    questionnaire_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_record(cls, r: CampaignRecord) -> Campaign:
        return cls(
            id=r.id,
            code=r.code,
            name=r.name,
            status=CampaignStatus(r.status),
            org_path=r.org_path,
            fieldwork_start=r.fieldwork_start,
            fieldwork_end=r.fieldwork_end,
            min_cell_size=r.min_cell_size,
            analysis_version=r.analysis_version,
            published_analysis_version=r.published_analysis_version,
            questionnaire_id=r.questionnaire_id,
        )

    @documented_field("The questionnaire version the campaign uses.")
    async def questionnaire(self, info: GraphInfo) -> Questionnaire | None:
        record = await survey_graph(info).loaders.questionnaire_by_id.load(self.questionnaire_id)
        return Questionnaire.from_record(record) if record is not None else None

    @documented_field("Quota fill per investigator and cell (organizers, audit, supervision; investigators: own).")
    async def quota_fill(self, info: GraphInfo) -> list[QuotaFill]:
        records = await survey_graph(info).loaders.quotas_by_campaign.load(self.id)
        return [
            QuotaFill(
                investigator=r.investigator,
                respondent_group=r.respondent_group,
                region=r.region,
                quota=r.quota,
                used=r.used,
                overflow=r.overflow,
            )
            for r in records
        ]

    @documented_field("Indices of the published analysis (inside the organizing unit: the newest); allGroups only.")
    async def indices(self, info: GraphInfo, all_groups_only: bool = True) -> list[SatisfactionIndex]:
        records = await survey_graph(info).loaders.indices_by_campaign.load(self.id)
        return [
            SatisfactionIndex(
                object_id=r.object_id,
                object_name=r.object_name,
                dimension=r.dimension,
                indicator_code=r.indicator_code,
                respondent_group=r.respondent_group,
                n=r.n,
                suppressed=r.suppressed,
                index=r.index,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                analysis_version=r.analysis_version,
            )
            for r in records
            if not all_groups_only or r.respondent_group is None
        ]


@strawberry.type
class CampaignConnection:
    items: list[Campaign]
    next_cursor: str | None


@strawberry.type
class QuestionnaireConnection:
    items: list[Questionnaire]
    next_cursor: str | None


def _page(first: int, after: str | None) -> dict[str, str | int]:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise GraphError(BAD_USER_INPUT, f"first must be between 1 and {MAX_PAGE_SIZE}.")
    if after is not None and len(after) > MAX_CURSOR_CHARS:
        raise GraphError(BAD_USER_INPUT, "after is not a cursor from this API.")
    return {"limit": first} | ({"cursor": after} if after else {})


@strawberry.type
class SurveyQuery:
    @documented_field("One campaign; null when it does not exist or you may not read it.")
    async def campaign(self, info: GraphInfo, id: uuid.UUID) -> Campaign | None:
        record = await survey_graph(info).loaders.campaign_by_id.load(id)
        return Campaign.from_record(record) if record is not None else None

    @documented_field("Campaigns you may read (published ones, and those of your subtree), by id order.")
    async def campaigns(
        self, info: GraphInfo, status: CampaignStatus | None = None, first: int = 50, after: str | None = None
    ) -> CampaignConnection:
        params = _page(first, after) | ({"status": status.value} if status else {})
        graph = survey_graph(info)
        body = await graph.api.get("/api/v1/campaigns", params)
        records = [CampaignRecord.model_validate(item) for item in body["items"]]
        graph.loaders.campaign_by_id.prime_many({r.id: r for r in records})
        return CampaignConnection(items=[Campaign.from_record(r) for r in records], next_cursor=body.get("next_cursor"))

    @documented_field("One questionnaire version; null when it does not exist or you may not read it.")
    async def questionnaire(self, info: GraphInfo, id: uuid.UUID) -> Questionnaire | None:
        record = await survey_graph(info).loaders.questionnaire_by_id.load(id)
        return Questionnaire.from_record(record) if record is not None else None

    @documented_field("Questionnaires you may read (published ones and drafts in your scope), by id order.")
    async def questionnaires(
        self, info: GraphInfo, first: int = 50, after: str | None = None
    ) -> QuestionnaireConnection:
        graph = survey_graph(info)
        body = await graph.api.get("/api/v1/questionnaires", _page(first, after))
        records = [QuestionnaireRecord.model_validate(item) for item in body["items"]]
        graph.loaders.questionnaire_by_id.prime_many({r.id: r for r in records})
        return QuestionnaireConnection(
            items=[Questionnaire.from_record(r) for r in records], next_cursor=body.get("next_cursor")
        )
