"""The feedback part of the graph: improvement cases with their recommendations, counseling
sessions, rectification tasks, use-of-results decisions and the published result each case rests
on, plus joint meetings. Every relation goes through a per-request DataLoader over feedback_svc's
batch endpoints, with the caller's own token (the service authorizes every call)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar

import strawberry
from fastapi import Request
from pydantic import BaseModel, ConfigDict
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from services.gateway.graph.context import GraphInfo
from services.gateway.graph.errors import BAD_USER_INPUT, UNAVAILABLE, GraphError, error_for_status
from services.gateway.graph.indicator_api import _problem_detail
from services.gateway.graph.types import documented_field
from services.gateway.upstream import UpstreamFailure, Upstreams, get_upstreams
from shared.errors import NotFound

log = logging.getLogger("govperf.gateway.graph")

SERVICE = "feedback"
# feedback_svc's caps: ?ids= and limit take at most 500, ?case_ids= at most 100.
MAX_IDS_PER_CALL = 500
MAX_CASES_PER_CALL = 100
MAX_PAGE_SIZE = 100
MAX_CURSOR_CHARS = 64


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RecommendationRecord(_Record):
    kind: str
    text: str
    indicator_code: str | None = None
    indicator_name: str | None = None
    value: Decimal | None = None
    target: Decimal | None = None
    gap: Decimal | None = None
    peer_best: Decimal | None = None
    peer_median: Decimal | None = None
    peer_count: int = 0
    previous_value: Decimal | None = None
    trend: str | None = None


class CaseRecord(_Record):
    id: uuid.UUID
    plan_id: uuid.UUID
    plan_name: str
    cycle_id: uuid.UUID
    cycle_label: str
    result_version: int
    object_id: uuid.UUID
    object_kind: str
    object_name: str
    org_path: str
    grade: str
    composite: Decimal
    rank: int
    peer_count: int
    status: str
    reasons: list[str]
    recommendations: list[RecommendationRecord]
    escalation_reason: str | None
    closed_at: dt.datetime | None


class SessionRecord(_Record):
    id: uuid.UUID
    case_id: uuid.UUID
    held_on: dt.date
    participants: list[str]
    findings: str
    acknowledged_at: dt.datetime | None
    task_ids: list[uuid.UUID]


class TaskRecord(_Record):
    id: uuid.UUID
    case_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    title: str
    owner_org_path: str
    deadline: dt.date
    status: str
    percent_done: int
    overdue_at: dt.datetime | None
    verified_by: str | None


class DecisionRecord(_Record):
    id: uuid.UUID
    case_id: uuid.UUID | None
    object_id: uuid.UUID
    plan_id: uuid.UUID
    result_version: int
    kind: str
    summary: str
    amount: Decimal | None
    decided_on: dt.date
    decided_as: str


class ResultRecord(_Record):
    case_id: uuid.UUID
    plan_id: uuid.UUID
    object_id: uuid.UUID
    result_version: int
    composite: Decimal
    grade: str
    rank: int
    peer_count: int
    vetoed: bool
    result: dict[str, Any]


class MeetingRecord(_Record):
    id: uuid.UUID
    org_path: str
    title: str
    held_on: dt.date
    members_present: list[str]
    agenda: list[dict[str, Any]]
    resolutions: list[dict[str, Any]]


RecordT = TypeVar("RecordT", bound=_Record)


class FeedbackApi:
    """feedback_svc seen with one caller's credentials (built per GraphQL request)."""

    def __init__(self, upstreams: Upstreams, *, forwarded: dict[str, str]) -> None:
        self._upstreams, self._headers = upstreams, forwarded

    async def get(self, path: str, params: dict[str, str | int]) -> Any:
        try:
            response = await self._upstreams.get(SERVICE, path, params=params, headers=self._headers)
        except NotFound:
            log.error("graph: no upstream configured for %s", SERVICE)
            raise GraphError(UNAVAILABLE, "The feedback service is unavailable.") from None
        except UpstreamFailure as exc:
            log.warning("graph: %s unreachable: %s", SERVICE, exc)
            raise GraphError(UNAVAILABLE, "The feedback service is unavailable.") from None
        if response.status != 200:
            if response.status >= 500:
                log.warning("graph: %s answered %s", SERVICE, response.status)
            raise error_for_status(response.status, _problem_detail(response))
        return response.json()

    async def items(self, path: str, record: type[RecordT], params: dict[str, str | int]) -> list[RecordT]:
        body = await self.get(path, params)
        return [record.model_validate(item) for item in body["items"]]

    async def page(
        self, path: str, record: type[RecordT], params: dict[str, str | int]
    ) -> tuple[list[RecordT], str | None]:
        body = await self.get(path, params)
        return [record.model_validate(item) for item in body["items"]], body.get("next_cursor")


def _joined(ids: Sequence[uuid.UUID]) -> str:
    return ",".join(map(str, ids))


@dataclass(frozen=True)
class FeedbackLoaders:
    case_by_id: DataLoader[uuid.UUID, CaseRecord | None]
    sessions_by_case: DataLoader[uuid.UUID, list[SessionRecord]]
    tasks_by_case: DataLoader[uuid.UUID, list[TaskRecord]]
    decisions_by_case: DataLoader[uuid.UUID, list[DecisionRecord]]
    result_by_case: DataLoader[uuid.UUID, ResultRecord | None]
    tasks_by_meeting: DataLoader[uuid.UUID, list[TaskRecord]]


def _grouped(
    fetch: Callable[[list[uuid.UUID]], Awaitable[list[RecordT]]], key: Callable[[RecordT], uuid.UUID | None]
) -> Callable[[list[uuid.UUID]], Awaitable[list[list[RecordT]]]]:
    async def load(ids: list[uuid.UUID]) -> list[list[RecordT]]:
        found: dict[uuid.UUID | None, list[RecordT]] = defaultdict(list)
        for record in await fetch(ids):
            found[key(record)].append(record)
        return [found.get(i, []) for i in ids]

    return load


def build_feedback_loaders(api: FeedbackApi) -> FeedbackLoaders:
    all_rows: dict[str, str | int] = {"limit": MAX_IDS_PER_CALL}

    async def cases(ids: list[uuid.UUID]) -> list[CaseRecord | None]:
        found = {c.id: c for c in await api.items("/api/v1/cases", CaseRecord, all_rows | {"ids": _joined(ids)})}
        return [found.get(i) for i in ids]

    async def results(ids: list[uuid.UUID]) -> list[ResultRecord | None]:
        found = {r.case_id: r for r in await api.items("/api/v1/results", ResultRecord, {"case_ids": _joined(ids)})}
        return [found.get(i) for i in ids]

    async def sessions(ids: list[uuid.UUID]) -> list[SessionRecord]:
        return await api.items("/api/v1/sessions", SessionRecord, {"case_ids": _joined(ids)})

    # One page of 500 per batch of cases: a case has a handful of tasks and decisions.
    async def tasks(ids: list[uuid.UUID]) -> list[TaskRecord]:
        return await api.items("/api/v1/tasks", TaskRecord, all_rows | {"case_ids": _joined(ids)})

    async def decisions(ids: list[uuid.UUID]) -> list[DecisionRecord]:
        return await api.items("/api/v1/decisions", DecisionRecord, all_rows | {"case_ids": _joined(ids)})

    async def meeting_tasks(ids: list[uuid.UUID]) -> list[TaskRecord]:
        return await api.items("/api/v1/tasks", TaskRecord, all_rows | {"meeting_ids": _joined(ids)})

    return FeedbackLoaders(
        case_by_id=DataLoader(cases, max_batch_size=MAX_IDS_PER_CALL),
        sessions_by_case=DataLoader(_grouped(sessions, lambda s: s.case_id), max_batch_size=MAX_CASES_PER_CALL),
        tasks_by_case=DataLoader(_grouped(tasks, lambda t: t.case_id), max_batch_size=MAX_CASES_PER_CALL),
        decisions_by_case=DataLoader(_grouped(decisions, lambda d: d.case_id), max_batch_size=MAX_CASES_PER_CALL),
        result_by_case=DataLoader(results, max_batch_size=MAX_CASES_PER_CALL),
        tasks_by_meeting=DataLoader(_grouped(meeting_tasks, lambda t: t.meeting_id), max_batch_size=MAX_CASES_PER_CALL),
    )


@dataclass(frozen=True)
class FeedbackGraph:
    api: FeedbackApi
    loaders: FeedbackLoaders


def feedback_of(info: GraphInfo) -> FeedbackGraph:
    """The request's feedback API and loaders, made on first use and kept on the request's context."""
    context = info.context
    graph: FeedbackGraph | None = getattr(context, "_feedback_graph", None)
    if graph is None:
        # Imported here: the router module builds the schema, which imports this module.
        from services.gateway.graph.router import forwarded_headers

        request = context.request
        if not isinstance(request, Request):
            raise GraphError(UNAVAILABLE, "The feedback service is unavailable.")
        api = FeedbackApi(get_upstreams(request.app), forwarded=forwarded_headers(request))
        graph = FeedbackGraph(api=api, loaders=build_feedback_loaders(api))
        context._feedback_graph = graph  # type: ignore[attr-defined]
    return graph


# --- types -------------------------------------------------------------------------------


@strawberry.enum(description="Lifecycle of an improvement case.")
class CaseStatus(Enum):
    OPEN = "open"
    COUNSELED = "counseled"
    PLAN_AGREED = "plan_agreed"
    IN_PROGRESS = "in_progress"
    VERIFIED = "verified"
    CLOSED = "closed"
    ESCALATED = "escalated"


@strawberry.type(
    description="A generated recommendation: the indicator, its gap, the peers' best and median, the trend."
)
class Recommendation:
    kind: str
    text: str
    indicator_code: str | None
    indicator_name: str | None
    value: Decimal | None
    target: Decimal | None
    gap: Decimal | None
    peer_best: Decimal | None
    peer_median: Decimal | None
    peer_count: int
    previous_value: Decimal | None
    trend: str | None


@strawberry.type(description="A recorded counseling conversation about a case.")
class CounselingSession:
    id: uuid.UUID
    held_on: dt.date
    participants: list[str]
    findings: str
    acknowledged_at: dt.datetime | None
    task_ids: list[uuid.UUID]


@strawberry.type(description="A rectification task (from counseling or a joint meeting's resolution).")
class RectificationTask:
    id: uuid.UUID
    title: str
    owner_org_path: str
    deadline: dt.date
    status: str
    percent_done: int
    overdue_at: dt.datetime | None
    verified_by: str | None


@strawberry.type(description="A use-of-results decision citing a published result version.")
class ResultDecision:
    id: uuid.UUID
    kind: str
    summary: str
    amount: Decimal | None
    decided_on: dt.date
    decided_as: str
    result_version: int


@strawberry.type(description="The published appraisal result a case rests on (as feedback received it).")
class AppraisalResult:
    plan_id: uuid.UUID
    object_id: uuid.UUID
    result_version: int
    composite: Decimal
    grade: str
    rank: int
    peer_count: int
    vetoed: bool
    leaves: JSON = strawberry.field(description="Per leaf: value, target, attainment, marks.")


@strawberry.type(description="An improvement case opened from a published result.")
class ImprovementCase:
    id: uuid.UUID
    plan_id: uuid.UUID
    plan_name: str
    cycle_label: str
    result_version: int
    object_id: uuid.UUID
    object_kind: str
    object_name: str
    org_path: str
    grade: str
    composite: Decimal
    rank: int
    peer_count: int
    status: CaseStatus
    reasons: list[str]
    recommendations: list[Recommendation]
    escalation_reason: str | None
    closed_at: dt.datetime | None

    @classmethod
    def from_record(cls, r: CaseRecord) -> ImprovementCase:
        return cls(
            id=r.id,
            plan_id=r.plan_id,
            plan_name=r.plan_name,
            cycle_label=r.cycle_label,
            result_version=r.result_version,
            object_id=r.object_id,
            object_kind=r.object_kind,
            object_name=r.object_name,
            org_path=r.org_path,
            grade=r.grade,
            composite=r.composite,
            rank=r.rank,
            peer_count=r.peer_count,
            status=CaseStatus(r.status),
            reasons=r.reasons,
            recommendations=[Recommendation(**rec.model_dump()) for rec in r.recommendations],
            escalation_reason=r.escalation_reason,
            closed_at=r.closed_at,
        )

    @documented_field("Counseling sessions, oldest first.")
    async def sessions(self, info: GraphInfo) -> list[CounselingSession]:
        records = await feedback_of(info).loaders.sessions_by_case.load(self.id)
        return [
            CounselingSession(
                id=s.id,
                held_on=s.held_on,
                participants=s.participants,
                findings=s.findings,
                acknowledged_at=s.acknowledged_at,
                task_ids=s.task_ids,
            )
            for s in records
        ]

    @documented_field("Rectification tasks of the case.")
    async def tasks(self, info: GraphInfo) -> list[RectificationTask]:
        return [_task(t) for t in await feedback_of(info).loaders.tasks_by_case.load(self.id)]

    @documented_field("Use-of-results decisions recorded against this case.")
    async def decisions(self, info: GraphInfo) -> list[ResultDecision]:
        return [
            ResultDecision(
                id=d.id,
                kind=d.kind,
                summary=d.summary,
                amount=d.amount,
                decided_on=d.decided_on,
                decided_as=d.decided_as,
                result_version=d.result_version,
            )
            for d in await feedback_of(info).loaders.decisions_by_case.load(self.id)
        ]

    @documented_field("The published appraisal result the case comes from.")
    async def result(self, info: GraphInfo) -> AppraisalResult | None:
        r = await feedback_of(info).loaders.result_by_case.load(self.id)
        if r is None:
            return None
        return AppraisalResult(
            plan_id=r.plan_id,
            object_id=r.object_id,
            result_version=r.result_version,
            composite=r.composite,
            grade=r.grade,
            rank=r.rank,
            peer_count=r.peer_count,
            vetoed=r.vetoed,
            leaves=r.result.get("leaves", []),
        )


def _task(t: TaskRecord) -> RectificationTask:
    return RectificationTask(
        id=t.id,
        title=t.title,
        owner_org_path=t.owner_org_path,
        deadline=t.deadline,
        status=t.status,
        percent_done=t.percent_done,
        overdue_at=t.overdue_at,
        verified_by=t.verified_by,
    )


@strawberry.type(description="A joint meeting of the member units; resolutions are tracked tasks.")
class JointMeeting:
    id: uuid.UUID
    org_path: str
    title: str
    held_on: dt.date
    members_present: list[str]
    agenda_case_ids: list[uuid.UUID]

    @documented_field("The cases on the agenda.")
    async def agenda_cases(self, info: GraphInfo) -> list[ImprovementCase]:
        found = await feedback_of(info).loaders.case_by_id.load_many(self.agenda_case_ids)
        return [ImprovementCase.from_record(c) for c in found if c is not None]

    @documented_field("Tasks made from the meeting's resolutions.")
    async def tasks(self, info: GraphInfo) -> list[RectificationTask]:
        return [_task(t) for t in await feedback_of(info).loaders.tasks_by_meeting.load(self.id)]


@strawberry.type
class CaseConnection:
    items: list[ImprovementCase]
    next_cursor: str | None


@strawberry.type
class MeetingConnection:
    items: list[JointMeeting]
    next_cursor: str | None


def _page_params(first: int, after: str | None) -> dict[str, str | int]:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise GraphError(BAD_USER_INPUT, f"first must be between 1 and {MAX_PAGE_SIZE}.")
    if after is not None and len(after) > MAX_CURSOR_CHARS:
        raise GraphError(BAD_USER_INPUT, "after is not a cursor from this API.")
    return {"limit": first} | ({"cursor": after} if after else {})


@strawberry.type(description="Supervision's worklist: escalated cases and overdue tasks in scope.")
class Escalations:
    cases: list[ImprovementCase]
    overdue_tasks: list[RectificationTask]


@strawberry.type
class FeedbackQuery:
    @documented_field("One improvement case; null when it does not exist or is outside your scope.")
    async def improvement_case(self, info: GraphInfo, id: uuid.UUID) -> ImprovementCase | None:
        record = await feedback_of(info).loaders.case_by_id.load(id)
        return ImprovementCase.from_record(record) if record is not None else None

    @documented_field("Improvement cases in your scope, by id order.")
    async def improvement_cases(
        self,
        info: GraphInfo,
        status: CaseStatus | None = None,
        plan_id: uuid.UUID | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> CaseConnection:
        params = _page_params(first, after)
        if status is not None:
            params["status"] = status.value
        if plan_id is not None:
            params["plan_id"] = str(plan_id)
        graph = feedback_of(info)
        items, next_cursor = await graph.api.page("/api/v1/cases", CaseRecord, params)
        graph.loaders.case_by_id.prime_many({c.id: c for c in items})
        return CaseConnection(items=[ImprovementCase.from_record(c) for c in items], next_cursor=next_cursor)

    @documented_field("Escalated cases and overdue tasks in your scope (supervision, the office, admins).")
    async def escalations(self, info: GraphInfo, first: int = 100) -> Escalations:
        if not 1 <= first <= MAX_IDS_PER_CALL:
            raise GraphError(BAD_USER_INPUT, f"first must be between 1 and {MAX_IDS_PER_CALL}.")
        graph = feedback_of(info)
        body = await graph.api.get("/api/v1/escalations", {"limit": first})
        cases = [CaseRecord.model_validate(c) for c in body["cases"]]
        graph.loaders.case_by_id.prime_many({c.id: c for c in cases})
        return Escalations(
            cases=[ImprovementCase.from_record(c) for c in cases],
            overdue_tasks=[_task(TaskRecord.model_validate(t)) for t in body["overdue_tasks"]],
        )

    @documented_field("Joint meetings in your scope, by id order.")
    async def joint_meetings(self, info: GraphInfo, first: int = 20, after: str | None = None) -> MeetingConnection:
        items, next_cursor = await feedback_of(info).api.page(
            "/api/v1/meetings", MeetingRecord, _page_params(first, after)
        )
        return MeetingConnection(
            items=[
                JointMeeting(
                    id=m.id,
                    org_path=m.org_path,
                    title=m.title,
                    held_on=m.held_on,
                    members_present=m.members_present,
                    agenda_case_ids=[uuid.UUID(item["case_id"]) for item in m.agenda],
                )
                for m in items
            ],
            next_cursor=next_cursor,
        )
