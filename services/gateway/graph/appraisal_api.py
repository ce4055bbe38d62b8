"""The appraisal part of the graph: the org tree (parent, children, appraisal objects),
appraisal plans with their cycle, framework version, objects (peer groups), targets and
collection status, and data points with their flags and revisions.

Every call goes to appraisal_svc's REST API with the caller's own token, so the service's role and
org-scope checks decide what is seen: a unit outside the caller's subtree is null here as it is
absent there. Every relation is batched per GraphQL request: a page of units with their parents,
children and objects costs four service calls however many units it holds (a relation holding
more than one page of rows, 500, costs one call more per further page)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from fastapi import Request
from pydantic import BaseModel, ConfigDict
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from services.gateway.graph.context import GraphInfo
from services.gateway.graph.errors import BAD_USER_INPUT, NOT_FOUND, UNAVAILABLE, GraphError, error_for_status
from services.gateway.graph.indicator_api import _problem_detail
from services.gateway.graph.types import documented_field
from services.gateway.upstream import UpstreamFailure, Upstreams, get_upstreams
from shared.errors import NotFound

log = logging.getLogger("govperf.gateway.graph")

SERVICE = "appraisal"
# appraisal_svc's caps: ``?ids=``-style lists and ``limit`` take at most 500.
MAX_IDS_PER_CALL = 500
MAX_PAGE_SIZE = 100
MAX_CURSOR_CHARS = 64
MAX_UNDER_CHARS = 512


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # the service may add fields


class OrgUnitRecord(_Record):
    id: uuid.UUID
    code: str
    name: str
    kind: str
    parent_id: uuid.UUID | None
    org_path: str
    peer_group: str
    deleted: bool


class ObjectRecord(_Record):
    id: uuid.UUID
    kind: str
    org_unit_id: uuid.UUID
    org_path: str
    code: str
    name: str
    peer_group: str


class CycleRecord(_Record):
    id: uuid.UUID
    kind: str
    label: str
    starts_on: dt.date
    ends_on: dt.date
    org_path: str


class FrameworkVersionRecord(_Record):
    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    code: str
    name: str
    org_path: str
    content_hash: str
    published_at: dt.datetime


class PlanRecord(_Record):
    id: uuid.UUID
    name: str
    cycle_id: uuid.UUID
    framework_id: uuid.UUID
    framework_hash: str
    owner_unit_id: uuid.UUID
    owner_org_path: str
    status: str
    missing_rule: str
    submission_deadline: dt.datetime
    verification_deadline: dt.datetime
    object_count: int
    opened_at: dt.datetime | None


class PlanObjectRecord(_Record):
    plan_id: uuid.UUID
    object_id: uuid.UUID
    peer_group: str


class TargetAmendmentRecord(_Record):
    old_baseline: Decimal | None
    old_target: Decimal
    new_baseline: Decimal | None
    new_target: Decimal
    reason: str
    amended_by: str
    amended_at: dt.datetime


class TargetRecord(_Record):
    id: uuid.UUID
    plan_id: uuid.UUID
    object_id: uuid.UUID
    indicator_code: str
    baseline: Decimal | None
    target: Decimal
    reason: str | None
    status: str
    set_by: str
    set_at: dt.datetime
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    amendments: list[TargetAmendmentRecord]


class CollectionRowRecord(_Record):
    plan_id: uuid.UUID
    object_id: uuid.UUID
    expected: int
    submitted: int
    verified: int
    accepted: int
    rejected: int
    missing: int
    late: int
    open_flags: int
    completeness: Decimal
    timeliness: Decimal | None


class FlagRecord(_Record):
    id: uuid.UUID
    rule: str
    details: dict[str, Any]
    status: str
    raised_by: str
    raised_at: dt.datetime
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution_note: str | None


class DataPointRecord(_Record):
    id: uuid.UUID
    object_id: uuid.UUID
    metric: str
    period: str
    source: str
    revision: int
    current: bool
    value: Decimal
    unit: str | None
    status: str
    submitted_by: str
    submitted_at: dt.datetime
    verified_by: str | None
    decided_by: str | None
    reject_reason: str | None
    flags: list[FlagRecord]


class ScoringRunRecord(_Record):
    id: uuid.UUID
    plan_id: uuid.UUID
    version: int
    status: str
    progress: float
    reason: str
    requested_by: str
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    object_count: int | None
    value_count: int | None
    inputs_hash: str | None
    results_hash: str | None
    hash_rules: int | None = None
    timings: dict[str, float] | None
    error: str | None


class ResultRowRecord(_Record):
    object_id: uuid.UUID
    object_name: str
    peer_group: str
    composite: Decimal
    grade: str
    grade_by_score: str
    veto_cap: str | None
    quota_demoted: bool
    rank: int
    peer_count: int


class ResultPageRecord(_Record):
    items: list[ResultRowRecord]
    next_cursor: str | None
    run_id: uuid.UUID
    version: int


class ExplainLeafRecord(_Record):
    indicator_code: str
    name: str
    parent_code: str | None
    subject: str
    method: str | None
    direction: str
    parameters: dict[str, Any] | None
    weight: Decimal
    value: Decimal | None
    data_point_id: uuid.UUID | None
    target: Decimal | None
    baseline: Decimal | None
    share: Decimal | None
    marks: Decimal
    earned: Decimal
    missing: bool


class ExplainSubjectRecord(_Record):
    subject: str
    declared_weight: Decimal
    weight: Decimal
    earned: Decimal
    marks: Decimal
    score: Decimal | None
    contribution: Decimal
    leaves: list[ExplainLeafRecord]


class GradeThresholdRecord(_Record):
    grade: str
    min_score: Decimal


class GradeRuleRecord(_Record):
    thresholds: list[GradeThresholdRecord]
    grade_by_score: str
    veto_codes: list[str]
    veto_cap: str | None
    top_grade_quota: Decimal | None
    top_grade_slots: int | None
    quota_demoted: bool
    tie_rule: str
    grade: str


class ResultExplainRecord(_Record):
    plan_id: uuid.UUID
    run_id: uuid.UUID
    version: int
    object_id: uuid.UUID
    object_name: str
    peer_group: str
    period: str
    score_places: int
    missing_rule: str
    total_points: Decimal
    subjects: list[ExplainSubjectRecord]
    base: Decimal
    bonus_leaves: list[ExplainLeafRecord]
    bonus_cap: Decimal
    bonus: Decimal
    deduction_leaves: list[ExplainLeafRecord]
    deduction: Decimal
    composite: Decimal
    veto_leaves: list[ExplainLeafRecord]
    grade: GradeRuleRecord
    rank: int
    peer_count: int


class ObjectionRecord(_Record):
    id: uuid.UUID
    plan_id: uuid.UUID
    object_id: uuid.UUID
    result_version: int
    indicator_code: str | None
    reason: str
    evidence_sha256: list[str]
    filed_by: str
    filed_org_path: str
    filed_at: dt.datetime
    status: str
    ruling_reason: str | None
    correction: dict[str, Any] | None
    ruled_by: str | None
    ruled_at: dt.datetime | None
    rescore_run_id: uuid.UUID | None


class LeagueTableOfPlanRecord(ResultPageRecord):
    plan_id: uuid.UUID


class ExpertAssignmentRecord(_Record):
    id: uuid.UUID
    plan_id: uuid.UUID
    expert: str
    expert_org_path: str
    object_id: uuid.UUID
    indicator_code: str
    subject: str
    assigned_by: str
    assigned_at: dt.datetime
    rated: bool


class SubCycleResultRecord(_Record):
    cycle_id: uuid.UUID
    label: str
    plan_id: uuid.UUID
    run_id: uuid.UUID
    composite: Decimal
    weight: Decimal


class RollupRowRecord(_Record):
    object_id: uuid.UUID
    sub_cycles: list[SubCycleResultRecord]
    missing: list[str]
    composite: Decimal | None


class RollupPageRecord(_Record):
    items: list[RollupRowRecord]
    next_cursor: str | None
    method: str
    sub_cycle_labels: list[str]
    score_places: int


class MonitoringRowRecord(_Record):
    object_id: uuid.UUID
    indicator_code: str
    method: str
    direction: str
    value: Decimal | None
    data_point_id: uuid.UUID | None
    target: Decimal
    baseline: Decimal | None
    attainment: Decimal
    lag: Decimal


class MonitoringPageRecord(_Record):
    items: list[MonitoringRowRecord]
    next_cursor: str | None
    as_of: dt.date
    elapsed_share: Decimal
    tolerance: Decimal


RecordT = TypeVar("RecordT", bound=_Record)
NOT_THERE = frozenset({404})
# A roll-up of a plan without a roll-up rule, monitoring of a plan not collecting: nothing to show.
NOT_APPLICABLE = frozenset({404, 409})
# Part 2 reads go through appraisal_svc's batch routes: runs, first pages of league tables and
# objections of many plans (?plan_ids=) in one call per kind and request; explain trees in one
# call per plan and version (?object_ids=). A page after a cursor or of an older version is per
# plan: a loader asks for each distinct key once, the keys of a batch concurrently.
# appraisal_svc answers a batch of league tables whole, at most this many rows across its plans,
# and at most this many explain trees of one plan per call.
MAX_TABLE_ROWS_PER_CALL = 10_000
MAX_EXPLAINS_PER_CALL = 100
ResultsKey = tuple[uuid.UUID, int | None, str | None, int, str | None]  # plan, version, peer group, first, after
ExplainKey = tuple[uuid.UUID, uuid.UUID, int | None]  # plan, object, version
ObjectionsKey = tuple[uuid.UUID, str | None]  # plan, status
AssignmentsKey = tuple[uuid.UUID, bool]  # plan, mine
RollupKey = tuple[uuid.UUID, int, str | None]  # plan, first, after
MonitoringKey = tuple[uuid.UUID, str, str | None, int, str | None]  # plan, tolerance, as of, first, after


class AppraisalApi:
    """appraisal_svc seen with one caller's credentials (built per GraphQL request)."""

    def __init__(self, upstreams: Upstreams, headers: dict[str, str]) -> None:
        self._upstreams, self._headers = upstreams, headers

    async def get(self, path: str, params: dict[str, str | int], *, absent: frozenset[int] = frozenset()) -> Any:
        """The service's JSON answer; None for a status in ``absent`` (nothing to show)."""
        try:
            response = await self._upstreams.get(SERVICE, path, params=params, headers=self._headers)
        except NotFound:
            log.error("graph: no upstream configured for %s", SERVICE)
            raise GraphError(UNAVAILABLE, "The appraisal service is unavailable.") from None
        except UpstreamFailure as exc:
            log.warning("graph: %s unreachable: %s", SERVICE, exc)
            raise GraphError(UNAVAILABLE, "The appraisal service is unavailable.") from None
        if response.status in absent:
            return None
        if response.status != 200:
            if response.status >= 500:
                log.warning("graph: %s answered %s", SERVICE, response.status)
            raise error_for_status(response.status, _problem_detail(response))
        return response.json()

    async def page(
        self, path: str, record: type[RecordT], params: dict[str, str | int]
    ) -> tuple[list[RecordT], str | None]:
        body = await self.get(path, params)
        return [record.model_validate(item) for item in body["items"]], body.get("next_cursor")

    async def all_pages(
        self, path: str, record: type[RecordT], params: dict[str, str | int] | None = None
    ) -> list[RecordT]:
        """Every row of a per-plan list, following the cursor; a plan out of sight gives nothing."""
        query: dict[str, str | int] = {"limit": MAX_IDS_PER_CALL, **(params or {})}
        try:
            found, cursor = await self.page(path, record, query)
            while cursor is not None:
                more, cursor = await self.page(path, record, query | {"cursor": cursor})
                found += more
        except GraphError as exc:
            if exc.code == NOT_FOUND:
                return []
            raise
        return found

    async def one(
        self, path: str, record: type[RecordT], params: dict[str, str | int], *, absent: frozenset[int] = NOT_THERE
    ) -> RecordT | None:
        """One resource, or None when the service answers a status in ``absent`` (404: absent, out
        of sight, not scored yet; a caller may add 409: not applicable to the plan's state)."""
        body = await self.get(path, params, absent=absent)
        return record.model_validate(body) if body is not None else None

    async def batch(self, path: str, record: type[RecordT], name: str, ids: Sequence[uuid.UUID]) -> list[RecordT]:
        """Every row matching ``?name=<ids>``, following the cursor (one call per 500 rows)."""
        params: dict[str, str | int] = {name: ",".join(map(str, ids)), "limit": MAX_IDS_PER_CALL}
        found, cursor = await self.page(path, record, params)
        while cursor is not None:
            more, cursor = await self.page(path, record, params | {"cursor": cursor})
            found += more
        return found


@dataclass(frozen=True)
class AppraisalLoaders:
    unit_by_id: DataLoader[uuid.UUID, OrgUnitRecord | None]
    children_by_unit: DataLoader[uuid.UUID, list[OrgUnitRecord]]
    objects_by_unit: DataLoader[uuid.UUID, list[ObjectRecord]]
    object_by_id: DataLoader[uuid.UUID, ObjectRecord | None]
    plan_by_id: DataLoader[uuid.UUID, PlanRecord | None]
    cycle_by_id: DataLoader[uuid.UUID, CycleRecord | None]
    framework_by_id: DataLoader[uuid.UUID, FrameworkVersionRecord | None]
    data_point_by_id: DataLoader[uuid.UUID, DataPointRecord | None]
    objects_by_plan: DataLoader[uuid.UUID, list[PlanObjectRecord]]
    targets_by_plan: DataLoader[uuid.UUID, list[TargetRecord]]
    revisions_by_point: DataLoader[uuid.UUID, list[DataPointRecord]]
    collection_by_plan: DataLoader[uuid.UUID, list[CollectionRowRecord]]
    runs_by_plan: DataLoader[uuid.UUID, list[ScoringRunRecord]]
    results_by_key: DataLoader[ResultsKey, ResultPageRecord | None]
    explain_by_key: DataLoader[ExplainKey, ResultExplainRecord | None]
    objections_by_key: DataLoader[ObjectionsKey, list[ObjectionRecord]]
    assignments_by_key: DataLoader[AssignmentsKey, list[ExpertAssignmentRecord]]
    rollup_by_key: DataLoader[RollupKey, RollupPageRecord | None]
    monitoring_by_key: DataLoader[MonitoringKey, MonitoringPageRecord | None]


def build_appraisal_loaders(api: AppraisalApi) -> AppraisalLoaders:
    def by_id(path: str, record: type[RecordT]) -> DataLoader[uuid.UUID, RecordT | None]:
        async def load(ids: list[uuid.UUID]) -> list[RecordT | None]:
            found: dict[Any, RecordT] = {r.id: r for r in await api.batch(path, record, "ids", ids)}  # type: ignore[attr-defined]
            return [found.get(i) for i in ids]

        return DataLoader(load, max_batch_size=MAX_IDS_PER_CALL)

    async def children(ids: list[uuid.UUID]) -> list[list[OrgUnitRecord]]:
        grouped: dict[uuid.UUID | None, list[OrgUnitRecord]] = defaultdict(list)
        for unit in await api.batch("/api/v1/org-units", OrgUnitRecord, "parent_ids", ids):
            grouped[unit.parent_id].append(unit)
        return [grouped.get(i, []) for i in ids]

    async def objects(ids: list[uuid.UUID]) -> list[list[ObjectRecord]]:
        grouped: dict[uuid.UUID, list[ObjectRecord]] = defaultdict(list)
        for obj in await api.batch("/api/v1/objects", ObjectRecord, "org_unit_ids", ids):
            grouped[obj.org_unit_id].append(obj)
        return [grouped.get(i, []) for i in ids]

    async def plan_objects(ids: list[uuid.UUID]) -> list[list[PlanObjectRecord]]:
        grouped: dict[uuid.UUID, list[PlanObjectRecord]] = defaultdict(list)
        for row in await api.batch("/api/v1/plan-objects", PlanObjectRecord, "plan_ids", ids):
            grouped[row.plan_id].append(row)
        return [grouped.get(i, []) for i in ids]

    async def plan_targets(ids: list[uuid.UUID]) -> list[list[TargetRecord]]:
        grouped: dict[uuid.UUID, list[TargetRecord]] = defaultdict(list)
        for row in await api.batch("/api/v1/targets", TargetRecord, "plan_ids", ids):
            grouped[row.plan_id].append(row)
        return [grouped.get(i, []) for i in ids]

    async def revisions(ids: list[uuid.UUID]) -> list[list[DataPointRecord]]:
        # One value's revisions share (object, metric, period, source); each named point is among them.
        grouped: dict[tuple[uuid.UUID, str, str, str], list[DataPointRecord]] = defaultdict(list)
        key_of: dict[uuid.UUID, tuple[uuid.UUID, str, str, str]] = {}
        for point in await api.batch("/api/v1/data-points", DataPointRecord, "revisions_of", ids):
            key = (point.object_id, point.metric, point.period, point.source)
            grouped[key].append(point)
            key_of[point.id] = key
        return [sorted(grouped[key_of[i]], key=lambda p: p.revision) if i in key_of else [] for i in ids]

    async def plan_collection(ids: list[uuid.UUID]) -> list[list[CollectionRowRecord]]:
        grouped: dict[uuid.UUID, list[CollectionRowRecord]] = defaultdict(list)
        for row in await api.batch("/api/v1/collection", CollectionRowRecord, "plan_ids", ids):
            grouped[row.plan_id].append(row)
        return [grouped.get(i, []) for i in ids]

    async def runs(ids: list[uuid.UUID]) -> list[list[ScoringRunRecord]]:
        grouped: dict[uuid.UUID, list[ScoringRunRecord]] = defaultdict(list)
        for run in await api.batch("/api/v1/scoring-runs", ScoringRunRecord, "plan_ids", ids):
            grouped[run.plan_id].append(run)
        return [grouped.get(i, []) for i in ids]

    async def results(keys: list[ResultsKey]) -> list[ResultPageRecord | None]:
        async def one(key: ResultsKey) -> ResultPageRecord | None:
            plan_id, version, peer_group, first, after = key
            params: dict[str, str | int] = {"limit": first}
            for name, value in (("version", version), ("peer_group", peer_group), ("cursor", after)):
                if value is not None:
                    params[name] = value
            return await api.one(f"/api/v1/plans/{plan_id}/results", ResultPageRecord, params)

        async def first_pages(peer_group: str | None, first: int, plans: list[uuid.UUID]) -> list[Any]:
            """The latest tables' first pages of ``plans``, in calls of at most 10,000 rows each."""
            per_call = max(1, min(MAX_IDS_PER_CALL, MAX_TABLE_ROWS_PER_CALL // first))
            params: dict[str, str | int] = {"limit": first} | ({"peer_group": peer_group} if peer_group else {})
            calls = []
            for start in range(0, len(plans), per_call):
                chunk = ",".join(map(str, plans[start : start + per_call]))
                calls.append(api.page("/api/v1/results", LeagueTableOfPlanRecord, params | {"plan_ids": chunk}))
            return [table for found, _ in await asyncio.gather(*calls) for table in found]

        # The first page of the latest version, by (peer group, page size): one batch call each.
        firsts: dict[tuple[str | None, int], list[uuid.UUID]] = defaultdict(list)
        for plan_id, version, peer_group, first, after in keys:
            if version is None and after is None:
                firsts[(peer_group, first)].append(plan_id)
        tables: dict[tuple[uuid.UUID, str | None, int], ResultPageRecord] = {}
        groups = list(firsts.items())
        answers = await asyncio.gather(*(first_pages(group, first, plans) for (group, first), plans in groups))
        for ((group, first), _), found in zip(groups, answers, strict=True):
            for table in found:
                tables[(table.plan_id, group, first)] = table
        others = [k for k in keys if k[1] is not None or k[4] is not None]
        by_key = dict(zip(others, await asyncio.gather(*(one(k) for k in others)), strict=True))
        return [by_key[k] if k in by_key else tables.get((k[0], k[2], k[3])) for k in keys]

    async def explains(keys: list[ExplainKey]) -> list[ResultExplainRecord | None]:
        async def of_plan(plan_id: uuid.UUID, version: int | None, objects: list[uuid.UUID]) -> list[Any]:
            calls = []
            for start in range(0, len(objects), MAX_EXPLAINS_PER_CALL):
                params: dict[str, str | int] = {
                    "object_ids": ",".join(map(str, objects[start : start + MAX_EXPLAINS_PER_CALL]))
                }
                if version is not None:
                    params["version"] = version
                calls.append(api.get(f"/api/v1/plans/{plan_id}/explains", params, absent=NOT_THERE))
            return [item for body in await asyncio.gather(*calls) if body is not None for item in body["items"]]

        # The objects of one plan and version in one call (or a few of 100).
        groups: dict[tuple[uuid.UUID, int | None], list[uuid.UUID]] = defaultdict(list)
        for plan_id, object_id, version in keys:
            groups[(plan_id, version)].append(object_id)
        found: dict[ExplainKey, ResultExplainRecord] = {}
        listed = list(groups.items())
        answers = await asyncio.gather(*(of_plan(p, v, objects) for (p, v), objects in listed))
        for ((plan_id, version), _), items in zip(listed, answers, strict=True):
            for item in items:
                record = ResultExplainRecord.model_validate(item)
                found[(plan_id, record.object_id, version)] = record
        return [found.get(k) for k in keys]

    async def objections(keys: list[ObjectionsKey]) -> list[list[ObjectionRecord]]:
        async def of_status(status: str | None, plans: list[uuid.UUID]) -> list[ObjectionRecord]:
            params: dict[str, str | int] = {"plan_ids": ",".join(map(str, plans)), "limit": MAX_IDS_PER_CALL}
            if status is not None:
                params["status"] = status
            found, cursor = await api.page("/api/v1/objections", ObjectionRecord, params)
            while cursor is not None:
                more, cursor = await api.page("/api/v1/objections", ObjectionRecord, params | {"cursor": cursor})
                found += more
            return found

        by_status: dict[str | None, list[uuid.UUID]] = defaultdict(list)
        for plan_id, status in keys:
            by_status[status].append(plan_id)
        grouped: dict[ObjectionsKey, list[ObjectionRecord]] = defaultdict(list)
        statuses = list(by_status.items())
        for (status, _), found in zip(
            statuses, await asyncio.gather(*(of_status(st, plans) for st, plans in statuses)), strict=True
        ):
            for row in found:
                grouped[(row.plan_id, status)].append(row)
        return [grouped.get(k, []) for k in keys]

    async def assignments(keys: list[AssignmentsKey]) -> list[list[ExpertAssignmentRecord]]:
        return list(
            await asyncio.gather(
                *(
                    api.all_pages(
                        f"/api/v1/plans/{plan_id}/expert-assignments",
                        ExpertAssignmentRecord,
                        {"mine": "true"} if mine else {},
                    )
                    for plan_id, mine in keys
                )
            )
        )

    async def rollups(keys: list[RollupKey]) -> list[RollupPageRecord | None]:
        def params(first: int, after: str | None) -> dict[str, str | int]:
            return {"limit": first} | ({"cursor": after} if after else {})

        return list(
            await asyncio.gather(
                *(
                    api.one(f"/api/v1/plans/{p}/rollup", RollupPageRecord, params(f, a), absent=NOT_APPLICABLE)
                    for p, f, a in keys
                )
            )
        )

    async def monitoring(keys: list[MonitoringKey]) -> list[MonitoringPageRecord | None]:
        def params(tolerance: str, as_of: str | None, first: int, after: str | None) -> dict[str, str | int]:
            found: dict[str, str | int] = {"tolerance": tolerance, "limit": first}
            return found | ({"as_of": as_of} if as_of else {}) | ({"cursor": after} if after else {})

        return list(
            await asyncio.gather(
                *(
                    api.one(
                        f"/api/v1/plans/{p}/monitoring", MonitoringPageRecord, params(t, d, f, a), absent=NOT_APPLICABLE
                    )
                    for p, t, d, f, a in keys
                )
            )
        )

    return AppraisalLoaders(
        unit_by_id=by_id("/api/v1/org-units", OrgUnitRecord),
        children_by_unit=DataLoader(children, max_batch_size=MAX_IDS_PER_CALL),
        objects_by_unit=DataLoader(objects, max_batch_size=MAX_IDS_PER_CALL),
        object_by_id=by_id("/api/v1/objects", ObjectRecord),
        plan_by_id=by_id("/api/v1/plans", PlanRecord),
        cycle_by_id=by_id("/api/v1/cycles", CycleRecord),
        framework_by_id=by_id("/api/v1/framework-versions", FrameworkVersionRecord),
        data_point_by_id=by_id("/api/v1/data-points", DataPointRecord),
        objects_by_plan=DataLoader(plan_objects, max_batch_size=MAX_IDS_PER_CALL),
        targets_by_plan=DataLoader(plan_targets, max_batch_size=MAX_IDS_PER_CALL),
        revisions_by_point=DataLoader(revisions, max_batch_size=MAX_IDS_PER_CALL),
        collection_by_plan=DataLoader(plan_collection, max_batch_size=MAX_IDS_PER_CALL),
        runs_by_plan=DataLoader(runs, max_batch_size=MAX_IDS_PER_CALL),
        results_by_key=DataLoader(results, max_batch_size=MAX_PAGE_SIZE),
        explain_by_key=DataLoader(explains, max_batch_size=MAX_PAGE_SIZE),
        objections_by_key=DataLoader(objections, max_batch_size=MAX_IDS_PER_CALL),
        assignments_by_key=DataLoader(assignments, max_batch_size=MAX_PAGE_SIZE),
        rollup_by_key=DataLoader(rollups, max_batch_size=MAX_PAGE_SIZE),
        monitoring_by_key=DataLoader(monitoring, max_batch_size=MAX_PAGE_SIZE),
    )


@dataclass(frozen=True)
class AppraisalGraph:
    api: AppraisalApi
    loaders: AppraisalLoaders


def appraisal_graph(info: GraphInfo) -> AppraisalGraph:
    """This request's appraisal client and loaders, made on first use."""
    context = info.context
    graph: AppraisalGraph | None = getattr(context, "appraisal_graph", None)
    if graph is None:
        # Imported here: the router module imports the schema, which imports this module.
        from services.gateway.graph.router import forwarded_headers

        request = context.request
        assert isinstance(request, Request)  # GraphQL over HTTP only (no subscriptions)
        api = AppraisalApi(get_upstreams(request.app), forwarded_headers(request))
        graph = AppraisalGraph(api, build_appraisal_loaders(api))
        context.appraisal_graph = graph  # type: ignore[attr-defined]
    return graph


async def load_object(info: GraphInfo, object_id: uuid.UUID) -> AppraisalObject | None:
    """An appraisal object through the request's loader; None when outside the caller's scope."""
    record = await appraisal_graph(info).loaders.object_by_id.load(object_id)
    return AppraisalObject.from_record(record) if record is not None else None


async def load_unit(info: GraphInfo, unit_id: uuid.UUID) -> OrgUnit | None:
    """An org unit through the request's loader; None when outside the caller's scope."""
    record = await appraisal_graph(info).loaders.unit_by_id.load(unit_id)
    return OrgUnit.from_record(record) if record is not None else None


@strawberry.enum(description="Where an org unit sits in the administrative tree.")
class OrgUnitKind(Enum):
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    DEPARTMENT = "department"


@strawberry.type(
    description="Something appraised (a government, department, official, project or policy) of one org unit."
)
class AppraisalObject:
    id: uuid.UUID
    kind: str
    code: str
    name: str
    org_path: str
    peer_group: str
    org_unit_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_record(cls, r: ObjectRecord) -> AppraisalObject:
        return cls(
            id=r.id,
            kind=r.kind,
            code=r.code,
            name=r.name,
            org_path=r.org_path,
            peer_group=r.peer_group,
            org_unit_id=r.org_unit_id,
        )

    @documented_field("The org unit the object belongs to.")
    async def org_unit(self, info: GraphInfo) -> OrgUnit | None:
        return await load_unit(info, self.org_unit_id)


@strawberry.type(description="A unit of the administrative tree (as appraisal_svc holds it).")
class OrgUnit:
    id: uuid.UUID
    code: str
    name: str
    kind: OrgUnitKind
    org_path: str
    peer_group: str
    deleted: bool
    parent_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_record(cls, r: OrgUnitRecord) -> OrgUnit:
        return cls(
            id=r.id,
            code=r.code,
            name=r.name,
            kind=OrgUnitKind(r.kind),
            org_path=r.org_path,
            peer_group=r.peer_group,
            deleted=r.deleted,
            parent_id=r.parent_id,
        )

    @documented_field("The unit above; null at the root or when it is outside your scope.")
    async def parent(self, info: GraphInfo) -> OrgUnit | None:
        if self.parent_id is None:
            return None
        return await load_unit(info, self.parent_id)

    @documented_field("The units directly below (deleted ones left out).")
    async def children(self, info: GraphInfo) -> list[OrgUnit]:
        return [OrgUnit.from_record(r) for r in await appraisal_graph(info).loaders.children_by_unit.load(self.id)]

    @documented_field("The appraisal objects of this unit.")
    async def objects(self, info: GraphInfo) -> list[AppraisalObject]:
        records = await appraisal_graph(info).loaders.objects_by_unit.load(self.id)
        return [AppraisalObject.from_record(r) for r in records]


@strawberry.type(description="An appraisal cycle (monthly, quarterly, annual or a term).")
class AppraisalCycle:
    id: uuid.UUID
    kind: str
    label: str
    starts_on: dt.date
    ends_on: dt.date
    org_path: str


@strawberry.type(description="A published framework version as appraisal_svc received it.")
class ReceivedFrameworkVersion:
    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    code: str
    name: str
    org_path: str
    content_hash: str
    published_at: dt.datetime


@strawberry.type(description="An appraisal plan: a cycle, a framework version and the objects appraised.")
class AppraisalPlan:
    id: uuid.UUID
    name: str
    status: str
    owner_org_path: str
    framework_hash: str
    missing_rule: str
    submission_deadline: dt.datetime
    verification_deadline: dt.datetime
    object_count: int
    opened_at: dt.datetime | None
    cycle_id: strawberry.Private[uuid.UUID]
    framework_id: strawberry.Private[uuid.UUID]
    owner_unit_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_record(cls, r: PlanRecord) -> AppraisalPlan:
        return cls(
            id=r.id,
            name=r.name,
            status=r.status,
            owner_org_path=r.owner_org_path,
            framework_hash=r.framework_hash,
            missing_rule=r.missing_rule,
            submission_deadline=r.submission_deadline,
            verification_deadline=r.verification_deadline,
            object_count=r.object_count,
            opened_at=r.opened_at,
            cycle_id=r.cycle_id,
            framework_id=r.framework_id,
            owner_unit_id=r.owner_unit_id,
        )

    @documented_field("The cycle the plan appraises.")
    async def cycle(self, info: GraphInfo) -> AppraisalCycle | None:
        r = await appraisal_graph(info).loaders.cycle_by_id.load(self.cycle_id)
        if r is None:
            return None
        return AppraisalCycle(
            id=r.id, kind=r.kind, label=r.label, starts_on=r.starts_on, ends_on=r.ends_on, org_path=r.org_path
        )

    @documented_field("The framework version the plan is bound to (its hash is frozen in the plan).")
    async def framework_version(self, info: GraphInfo) -> ReceivedFrameworkVersion | None:
        r = await appraisal_graph(info).loaders.framework_by_id.load(self.framework_id)
        if r is None:
            return None
        return ReceivedFrameworkVersion(
            id=r.id,
            lineage_id=r.lineage_id,
            version=r.version,
            code=r.code,
            name=r.name,
            org_path=r.org_path,
            content_hash=r.content_hash,
            published_at=r.published_at,
        )

    @documented_field("The unit that owns the plan; null when it is outside your scope.")
    async def owner_unit(self, info: GraphInfo) -> OrgUnit | None:
        return await load_unit(info, self.owner_unit_id)

    @documented_field("The plan's scoring runs (job resources), oldest first; every result version stays readable.")
    async def scoring_runs(self, info: GraphInfo) -> list[ScoringRun]:
        return [ScoringRun.from_record(r) for r in await appraisal_graph(info).loaders.runs_by_plan.load(self.id)]

    @documented_field(
        "The league table of a result version (default the latest): composite, grade and competition rank by "
        "peer group; null before the first succeeded run or when you may not see results yet."
    )
    async def results(
        self,
        info: GraphInfo,
        version: int | None = None,
        peer_group: str | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> ResultTable | None:
        page = _page(first, after)
        _check_version(version)
        if peer_group is not None and len(peer_group) > 64:
            raise GraphError(BAD_USER_INPUT, "peerGroup takes at most 64 characters.")
        key = (self.id, version, peer_group, int(page["limit"]), after)
        record = await appraisal_graph(info).loaders.results_by_key.load(key)
        return ResultTable.from_record(self.id, record) if record is not None else None

    @documented_field(
        "One object's result as the explain tree (every number recomputable by hand, docs/scoring.md); "
        "null when there is none you may see."
    )
    async def result(self, info: GraphInfo, object_id: uuid.UUID, version: int | None = None) -> ResultExplain | None:
        _check_version(version)
        record = await appraisal_graph(info).loaders.explain_by_key.load((self.id, object_id, version))
        return ResultExplain.from_record(record) if record is not None else None

    @documented_field("Objections to the plan's results on objects in your scope, with their rulings.")
    async def objections(self, info: GraphInfo, status: ObjectionStatus | None = None) -> list[Objection]:
        key = (self.id, status.value if status is not None else None)
        return [Objection.from_record(r) for r in await appraisal_graph(info).loaders.objections_by_key.load(key)]

    @documented_field(
        "The plan's expert panel in your scope (rated or not, never the grade); an expert sees their own "
        "assignments only, and with mine: true anyone sees just their own."
    )
    async def expert_assignments(self, info: GraphInfo, mine: bool = False) -> list[ExpertAssignment]:
        rows = await appraisal_graph(info).loaders.assignments_by_key.load((self.id, mine))
        return [ExpertAssignment.from_record(r) for r in rows]

    @documented_field(
        "Per object: each sub-cycle's published composite and the composite rolled up by the plan's rule; "
        "null when the plan has no roll-up rule or is out of your sight."
    )
    async def rollup(self, info: GraphInfo, first: int = 50, after: str | None = None) -> RollupTable | None:
        page = _page(first, after)
        record = await appraisal_graph(info).loaders.rollup_by_key.load((self.id, int(page["limit"]), after))
        return RollupTable.from_record(record) if record is not None else None

    @documented_field(
        "Peacetime monitoring: quantitative leaves whose attainment lags the elapsed share of the cycle by more "
        "than tolerance (0 to 1, default 0.1), as of a day (default today); null unless the plan is collecting."
    )
    async def monitoring(
        self,
        info: GraphInfo,
        tolerance: str = "0.1",
        as_of: dt.date | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> MonitoringReport | None:
        page = _page(first, after)
        try:
            share = Decimal(tolerance)
        except ArithmeticError:
            raise GraphError(BAD_USER_INPUT, "tolerance must be a decimal between 0 and 1.") from None
        if not share.is_finite() or not 0 <= share <= 1 or len(tolerance) > 16:
            raise GraphError(BAD_USER_INPUT, "tolerance must be a decimal between 0 and 1.")
        key = (self.id, tolerance, as_of.isoformat() if as_of else None, int(page["limit"]), after)
        record = await appraisal_graph(info).loaders.monitoring_by_key.load(key)
        return MonitoringReport.from_record(record) if record is not None else None

    @documented_field("The plan's objects in your scope, each with its peer group.")
    async def objects(self, info: GraphInfo) -> list[PlanObject]:
        rows = await appraisal_graph(info).loaders.objects_by_plan.load(self.id)
        return [PlanObject(peer_group=r.peer_group, object_id=r.object_id) for r in rows]

    @documented_field("Collection status per object of the plan in your scope.")
    async def collection_status(self, info: GraphInfo) -> list[CollectionStatus]:
        rows = await appraisal_graph(info).loaders.collection_by_plan.load(self.id)
        return [
            CollectionStatus(
                expected=r.expected,
                submitted=r.submitted,
                verified=r.verified,
                accepted=r.accepted,
                rejected=r.rejected,
                missing=r.missing,
                late=r.late,
                open_flags=r.open_flags,
                completeness=format(r.completeness, "f"),
                timeliness=_decimal(r.timeliness),
                object_id=r.object_id,
            )
            for r in rows
        ]

    @documented_field("The plan's targets for the objects in your scope, with their amendments.")
    async def targets(self, info: GraphInfo) -> list[PlanTarget]:
        return [PlanTarget.from_record(r) for r in await appraisal_graph(info).loaders.targets_by_plan.load(self.id)]


@strawberry.type(description="An object appraised by a plan, in the peer group the plan ranks it in.")
class PlanObject:
    peer_group: str
    object_id: strawberry.Private[uuid.UUID]

    @documented_field("The appraisal object; null when it is outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)


@strawberry.type(description="How far one object's data for a plan has come in (current values only).")
class CollectionStatus:
    expected: int
    submitted: int = strawberry.field(description="Current values awaiting verification.")
    verified: int
    accepted: int
    rejected: int
    missing: int
    late: int
    open_flags: int
    completeness: str = strawberry.field(description="accepted / expected, a decimal as a string.")
    timeliness: str | None = strawberry.field(
        description="on-time / received, a decimal as a string; null when nothing arrived."
    )
    object_id: strawberry.Private[uuid.UUID]

    @documented_field("The appraisal object; null when it is outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)


def _decimal(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


@strawberry.type(description="A change of an approved target, with its reason.")
class TargetAmendment:
    old_baseline: str | None = strawberry.field(description="A decimal, as a string.")
    old_target: str = strawberry.field(description="A decimal, as a string.")
    new_baseline: str | None = strawberry.field(description="A decimal, as a string.")
    new_target: str = strawberry.field(description="A decimal, as a string.")
    reason: str
    amended_by: str
    amended_at: dt.datetime


@strawberry.type(description="A plan's target for one leaf indicator of one object.")
class PlanTarget:
    id: uuid.UUID
    indicator_code: str
    baseline: str | None = strawberry.field(description="A decimal, as a string: no binary rounding.")
    target: str = strawberry.field(description="A decimal, as a string: no binary rounding.")
    reason: str | None
    status: str
    set_by: str
    set_at: dt.datetime
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    approved_by: str | None
    approved_at: dt.datetime | None
    amendments: list[TargetAmendment]
    object_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_record(cls, r: TargetRecord) -> PlanTarget:
        return cls(
            id=r.id,
            indicator_code=r.indicator_code,
            baseline=_decimal(r.baseline),
            target=format(r.target, "f"),
            reason=r.reason,
            status=r.status,
            set_by=r.set_by,
            set_at=r.set_at,
            confirmed_by=r.confirmed_by,
            confirmed_at=r.confirmed_at,
            approved_by=r.approved_by,
            approved_at=r.approved_at,
            amendments=[
                TargetAmendment(
                    old_baseline=_decimal(a.old_baseline),
                    old_target=format(a.old_target, "f"),
                    new_baseline=_decimal(a.new_baseline),
                    new_target=format(a.new_target, "f"),
                    reason=a.reason,
                    amended_by=a.amended_by,
                    amended_at=a.amended_at,
                )
                for a in r.amendments
            ],
            object_id=r.object_id,
        )

    @documented_field("The appraisal object the target is for; null when it is outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)


@strawberry.type(description="An anomaly flag on a data point (raised by a rule or by audit).")
class DataFlag:
    id: uuid.UUID
    rule: str
    details: JSON
    status: str
    raised_by: str
    raised_at: dt.datetime
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution_note: str | None


@strawberry.type(description="One revision of a reported value, with its flags.")
class DataPoint:
    id: uuid.UUID
    metric: str
    period: str
    source: str
    revision: int
    current: bool
    value: str = strawberry.field(description="A decimal, as a string: no binary rounding.")
    unit: str | None
    status: str
    submitted_by: str
    submitted_at: dt.datetime
    verified_by: str | None
    decided_by: str | None
    reject_reason: str | None
    flags: list[DataFlag]
    object_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_record(cls, r: DataPointRecord) -> DataPoint:
        return cls(
            id=r.id,
            metric=r.metric,
            period=r.period,
            source=r.source,
            revision=r.revision,
            current=r.current,
            value=format(r.value, "f"),
            unit=r.unit,
            status=r.status,
            submitted_by=r.submitted_by,
            submitted_at=r.submitted_at,
            verified_by=r.verified_by,
            decided_by=r.decided_by,
            reject_reason=r.reject_reason,
            flags=[
                DataFlag(
                    id=f.id,
                    rule=f.rule,
                    details=cast(JSON, f.details),  # any JSON object a rule wrote
                    status=f.status,
                    raised_by=f.raised_by,
                    raised_at=f.raised_at,
                    resolved_by=f.resolved_by,
                    resolved_at=f.resolved_at,
                    resolution_note=f.resolution_note,
                )
                for f in r.flags
            ],
            object_id=r.object_id,
        )

    @documented_field("The appraisal object the value is reported for; null when outside your scope.")
    async def appraisal_object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)

    @documented_field("Every revision of this value (this one included), oldest first, with their flags.")
    async def revisions(self, info: GraphInfo) -> list[DataPoint]:
        return [DataPoint.from_record(r) for r in await appraisal_graph(info).loaders.revisions_by_point.load(self.id)]


@strawberry.type(description="A scoring run: a job that writes one result version of a plan.")
class ScoringRun:
    id: uuid.UUID
    version: int
    status: str = strawberry.field(description="queued, running, succeeded or failed.")
    progress: float
    reason: str
    requested_by: str
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    object_count: int | None
    value_count: int | None
    inputs_hash: str | None
    results_hash: str | None = strawberry.field(description="sha256 of the result rows (docs/scoring.md).")
    hash_rules: int | None = strawberry.field(description="The version of the hash rules both hashes follow.")
    timings: JSON | None = strawberry.field(description="Seconds per phase.")
    error: str | None

    @classmethod
    def from_record(cls, r: ScoringRunRecord) -> ScoringRun:
        return cls(
            id=r.id,
            version=r.version,
            status=r.status,
            progress=r.progress,
            reason=r.reason,
            requested_by=r.requested_by,
            requested_at=r.requested_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            object_count=r.object_count,
            value_count=r.value_count,
            inputs_hash=r.inputs_hash,
            results_hash=r.results_hash,
            hash_rules=r.hash_rules,
            timings=cast(JSON, r.timings),
            error=r.error,
        )


@strawberry.type(description="One line of a league table. Numbers are decimals as strings.")
class ResultRow:
    object_id: uuid.UUID
    object_name: str
    peer_group: str
    composite: str
    grade: str
    grade_by_score: str
    veto_cap: str | None
    quota_demoted: bool
    rank: int = strawberry.field(description="Competition rank by composite within the peer group (1, 2, 2, 4).")
    peer_count: int
    plan_id: strawberry.Private[uuid.UUID]
    version: strawberry.Private[int]

    @documented_field("The appraisal object; null when outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)

    @documented_field("The object's explain tree in the same result version.")
    async def explain(self, info: GraphInfo) -> ResultExplain | None:
        key = (self.plan_id, self.object_id, self.version)
        record = await appraisal_graph(info).loaders.explain_by_key.load(key)
        return ResultExplain.from_record(record) if record is not None else None


@strawberry.type(description="A page of a league table of one result version.")
class ResultTable:
    run_id: uuid.UUID
    version: int
    items: list[ResultRow]
    next_cursor: str | None

    @classmethod
    def from_record(cls, plan_id: uuid.UUID, r: ResultPageRecord) -> ResultTable:
        rows = [
            ResultRow(
                object_id=i.object_id,
                object_name=i.object_name,
                peer_group=i.peer_group,
                composite=format(i.composite, "f"),
                grade=i.grade,
                grade_by_score=i.grade_by_score,
                veto_cap=i.veto_cap,
                quota_demoted=i.quota_demoted,
                rank=i.rank,
                peer_count=i.peer_count,
                plan_id=plan_id,
                version=r.version,
            )
            for i in r.items
        ]
        return cls(run_id=r.run_id, version=r.version, items=rows, next_cursor=r.next_cursor)


@strawberry.type(description="One leaf for one evaluation subject ('' for bonus, deduction and veto leaves).")
class ExplainLeaf:
    indicator_code: str
    name: str
    parent_code: str | None
    subject: str
    method: str | None
    direction: str
    parameters: JSON | None = strawberry.field(description="The leaf's scoring rule as the framework published it.")
    weight: str
    value: str | None
    data_point_id: uuid.UUID | None
    target: str | None
    baseline: str | None
    share: str | None = strawberry.field(description="Attainment in [0, cap]; null when missing.")
    marks: str
    earned: str
    missing: bool

    @classmethod
    def from_record(cls, r: ExplainLeafRecord) -> ExplainLeaf:
        return cls(
            indicator_code=r.indicator_code,
            name=r.name,
            parent_code=r.parent_code,
            subject=r.subject,
            method=r.method,
            direction=r.direction,
            parameters=cast(JSON, r.parameters),
            weight=format(r.weight, "f"),
            value=_decimal(r.value),
            data_point_id=r.data_point_id,
            target=_decimal(r.target),
            baseline=_decimal(r.baseline),
            share=_decimal(r.share),
            marks=format(r.marks, "f"),
            earned=format(r.earned, "f"),
            missing=r.missing,
        )

    @documented_field("The accepted value scored, with its flags; null when missing or outside your scope.")
    async def data_point(self, info: GraphInfo) -> DataPoint | None:
        if self.data_point_id is None:
            return None
        record = await appraisal_graph(info).loaders.data_point_by_id.load(self.data_point_id)
        return DataPoint.from_record(record) if record is not None else None


@strawberry.type(description="One evaluation subject's part of a result.")
class ExplainSubject:
    subject: str
    declared_weight: str
    weight: str = strawberry.field(description="declared weight / sum of the present subjects' declared weights.")
    earned: str
    marks: str
    score: str | None
    contribution: str
    leaves: list[ExplainLeaf]


@strawberry.type(description="A grade and the score it needs at least.")
class GradeThreshold:
    grade: str
    min_score: str


@strawberry.type(description="How the grade came about: by score, veto caps and the top-grade quota.")
class GradeRule:
    thresholds: list[GradeThreshold]
    grade_by_score: str
    veto_codes: list[str]
    veto_cap: str | None
    top_grade_quota: str | None
    top_grade_slots: int | None
    quota_demoted: bool
    tie_rule: str
    grade: str


@strawberry.type(description="Everything needed to recompute one object's result by hand (docs/scoring.md).")
class ResultExplain:
    run_id: uuid.UUID
    version: int
    object_id: uuid.UUID
    object_name: str
    peer_group: str
    period: str
    score_places: int
    missing_rule: str
    total_points: str
    subjects: list[ExplainSubject]
    base: str
    bonus_leaves: list[ExplainLeaf]
    bonus_cap: str
    bonus: str
    deduction_leaves: list[ExplainLeaf]
    deduction: str
    composite: str
    veto_leaves: list[ExplainLeaf]
    grade: GradeRule
    rank: int
    peer_count: int

    @classmethod
    def from_record(cls, r: ResultExplainRecord) -> ResultExplain:
        def leaves(records: list[ExplainLeafRecord]) -> list[ExplainLeaf]:
            return [ExplainLeaf.from_record(leaf) for leaf in records]

        g = r.grade
        return cls(
            run_id=r.run_id,
            version=r.version,
            object_id=r.object_id,
            object_name=r.object_name,
            peer_group=r.peer_group,
            period=r.period,
            score_places=r.score_places,
            missing_rule=r.missing_rule,
            total_points=format(r.total_points, "f"),
            subjects=[
                ExplainSubject(
                    subject=s.subject,
                    declared_weight=format(s.declared_weight, "f"),
                    weight=format(s.weight, "f"),
                    earned=format(s.earned, "f"),
                    marks=format(s.marks, "f"),
                    score=_decimal(s.score),
                    contribution=format(s.contribution, "f"),
                    leaves=leaves(s.leaves),
                )
                for s in r.subjects
            ],
            base=format(r.base, "f"),
            bonus_leaves=leaves(r.bonus_leaves),
            bonus_cap=format(r.bonus_cap, "f"),
            bonus=format(r.bonus, "f"),
            deduction_leaves=leaves(r.deduction_leaves),
            deduction=format(r.deduction, "f"),
            composite=format(r.composite, "f"),
            veto_leaves=leaves(r.veto_leaves),
            grade=GradeRule(
                thresholds=[GradeThreshold(grade=t.grade, min_score=format(t.min_score, "f")) for t in g.thresholds],
                grade_by_score=g.grade_by_score,
                veto_codes=g.veto_codes,
                veto_cap=g.veto_cap,
                top_grade_quota=_decimal(g.top_grade_quota),
                top_grade_slots=g.top_grade_slots,
                quota_demoted=g.quota_demoted,
                tie_rule=g.tie_rule,
                grade=g.grade,
            ),
            rank=r.rank,
            peer_count=r.peer_count,
        )

    @documented_field("The appraisal object; null when outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)


@strawberry.enum(description="Where an objection stands: open, or ruled upheld or dismissed.")
class ObjectionStatus(Enum):
    OPEN = "open"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


@strawberry.type(description="An objection of the appraised department to a result, with the office's ruling.")
class Objection:
    id: uuid.UUID
    object_id: uuid.UUID
    result_version: int = strawberry.field(description="The result version objected to.")
    indicator_code: str | None
    reason: str
    evidence_sha256: list[str]
    filed_by: str
    filed_org_path: str
    filed_at: dt.datetime
    status: ObjectionStatus
    ruling_reason: str | None
    correction: JSON | None = strawberry.field(description="What an upheld ruling corrected (data or targets).")
    ruled_by: str | None
    ruled_at: dt.datetime | None
    rescore_run_id: uuid.UUID | None
    plan_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_record(cls, r: ObjectionRecord) -> Objection:
        return cls(
            id=r.id,
            object_id=r.object_id,
            result_version=r.result_version,
            indicator_code=r.indicator_code,
            reason=r.reason,
            evidence_sha256=r.evidence_sha256,
            filed_by=r.filed_by,
            filed_org_path=r.filed_org_path,
            filed_at=r.filed_at,
            status=ObjectionStatus(r.status),
            ruling_reason=r.ruling_reason,
            correction=cast(JSON, r.correction),
            ruled_by=r.ruled_by,
            ruled_at=r.ruled_at,
            rescore_run_id=r.rescore_run_id,
            plan_id=r.plan_id,
        )

    @documented_field("The appraisal object objected for; null when outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)

    @documented_field("The result objected to (the explain tree of that version).")
    async def result(self, info: GraphInfo) -> ResultExplain | None:
        key = (self.plan_id, self.object_id, self.result_version)
        record = await appraisal_graph(info).loaders.explain_by_key.load(key)
        return ResultExplain.from_record(record) if record is not None else None

    @documented_field("The rescoring run an upheld ruling requested; null otherwise.")
    async def rescore_run(self, info: GraphInfo) -> ScoringRun | None:
        if self.rescore_run_id is None:
            return None
        runs = await appraisal_graph(info).loaders.runs_by_plan.load(self.plan_id)
        return next((ScoringRun.from_record(r) for r in runs if r.id == self.rescore_run_id), None)


@strawberry.type(description="An expert assigned to rate one graded leaf of one object (the grade stays sealed).")
class ExpertAssignment:
    id: uuid.UUID
    plan_id: uuid.UUID
    expert: str
    expert_org_path: str
    object_id: uuid.UUID
    indicator_code: str
    subject: str = strawberry.field(description="The evaluation subject the rating counts for.")
    assigned_by: str
    assigned_at: dt.datetime
    rated: bool = strawberry.field(description="Whether a rating was given; its grade is never shown here.")

    @classmethod
    def from_record(cls, r: ExpertAssignmentRecord) -> ExpertAssignment:
        return cls(**{name: getattr(r, name) for name in ExpertAssignmentRecord.model_fields})

    @documented_field("The appraisal object to rate; null when outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)


@strawberry.type(description="One sub-cycle's published composite of an object, with its weight in the roll-up.")
class SubCycleResult:
    cycle_id: uuid.UUID
    label: str
    plan_id: uuid.UUID
    run_id: uuid.UUID
    composite: str
    weight: str


@strawberry.type(description="An object's result rolled up from its sub-cycles. Numbers are decimals as strings.")
class RollupRow:
    object_id: uuid.UUID
    sub_cycles: list[SubCycleResult]
    missing: list[str] = strawberry.field(description="Sub-cycle labels without a published result for the object.")
    composite: str | None = strawberry.field(description="Rolled up and rounded half-up; null when nothing counts.")

    @documented_field("The appraisal object; null when outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)


@strawberry.type(description="A page of a plan's roll-up: the rule, the sub-cycles it reads and a row per object.")
class RollupTable:
    method: str
    sub_cycle_labels: list[str]
    score_places: int
    items: list[RollupRow]
    next_cursor: str | None

    @classmethod
    def from_record(cls, r: RollupPageRecord) -> RollupTable:
        rows = [
            RollupRow(
                object_id=i.object_id,
                sub_cycles=[
                    SubCycleResult(
                        cycle_id=c.cycle_id,
                        label=c.label,
                        plan_id=c.plan_id,
                        run_id=c.run_id,
                        composite=format(c.composite, "f"),
                        weight=format(c.weight, "f"),
                    )
                    for c in i.sub_cycles
                ],
                missing=i.missing,
                composite=format(i.composite, "f") if i.composite is not None else None,
            )
            for i in r.items
        ]
        return cls(
            method=r.method,
            sub_cycle_labels=r.sub_cycle_labels,
            score_places=r.score_places,
            items=rows,
            next_cursor=r.next_cursor,
        )


@strawberry.type(description="A leaf lagging the elapsed share of the cycle. Numbers are decimals as strings.")
class MonitoringRow:
    object_id: uuid.UUID
    indicator_code: str
    method: str
    direction: str
    value: str | None = strawberry.field(description="The latest accepted value; null when none arrived yet.")
    data_point_id: uuid.UUID | None
    target: str
    baseline: str | None
    attainment: str
    lag: str = strawberry.field(description="elapsedShare - attainment.")

    @documented_field("The appraisal object; null when outside your scope.")
    async def object(self, info: GraphInfo) -> AppraisalObject | None:
        return await load_object(info, self.object_id)


@strawberry.type(description="A page of a collecting plan's monitoring report.")
class MonitoringReport:
    as_of: dt.date
    elapsed_share: str
    tolerance: str
    items: list[MonitoringRow]
    next_cursor: str | None

    @classmethod
    def from_record(cls, r: MonitoringPageRecord) -> MonitoringReport:
        def text(value: Decimal | None) -> str | None:
            return format(value, "f") if value is not None else None

        rows = [
            MonitoringRow(
                object_id=i.object_id,
                indicator_code=i.indicator_code,
                method=i.method,
                direction=i.direction,
                value=text(i.value),
                data_point_id=i.data_point_id,
                target=format(i.target, "f"),
                baseline=text(i.baseline),
                attainment=format(i.attainment, "f"),
                lag=format(i.lag, "f"),
            )
            for i in r.items
        ]
        return cls(
            as_of=r.as_of,
            elapsed_share=format(r.elapsed_share, "f"),
            tolerance=format(r.tolerance, "f"),
            items=rows,
            next_cursor=r.next_cursor,
        )


@strawberry.type
class DataPointConnection:
    items: list[DataPoint]
    next_cursor: str | None


@strawberry.type
class OrgUnitConnection:
    items: list[OrgUnit]
    next_cursor: str | None


@strawberry.type
class AppraisalPlanConnection:
    items: list[AppraisalPlan]
    next_cursor: str | None


def _check_version(version: int | None) -> None:
    if version is not None and not 1 <= version <= 1_000_000:
        raise GraphError(BAD_USER_INPUT, "version must be between 1 and 1000000.")


def _page(first: int, after: str | None) -> dict[str, str | int]:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise GraphError(BAD_USER_INPUT, f"first must be between 1 and {MAX_PAGE_SIZE}.")
    if after is not None and len(after) > MAX_CURSOR_CHARS:
        raise GraphError(BAD_USER_INPUT, "after is not a cursor from this API.")
    return {"limit": first} | ({"cursor": after} if after else {})


@strawberry.type
class AppraisalQuery:
    @documented_field("One org unit; null when it does not exist or is outside your scope.")
    async def org_unit(self, info: GraphInfo, id: uuid.UUID) -> OrgUnit | None:
        return await load_unit(info, id)

    @documented_field("Org units in your scope, by id order; ``under`` narrows to a subtree.")
    async def org_units(
        self, info: GraphInfo, under: str | None = None, first: int = 50, after: str | None = None
    ) -> OrgUnitConnection:
        params = _page(first, after)
        if under is not None:
            if len(under) > MAX_UNDER_CHARS:
                raise GraphError(BAD_USER_INPUT, "under is too long.")
            params["under"] = under
        graph = appraisal_graph(info)
        records, cursor = await graph.api.page("/api/v1/org-units", OrgUnitRecord, params)
        graph.loaders.unit_by_id.prime_many({r.id: r for r in records})
        return OrgUnitConnection(items=[OrgUnit.from_record(r) for r in records], next_cursor=cursor)

    @documented_field("One appraisal object; null when it does not exist or is outside your scope.")
    async def appraisal_object(self, info: GraphInfo, id: uuid.UUID) -> AppraisalObject | None:
        return await load_object(info, id)

    @documented_field(
        "Expert assignments of one plan: an expert's own (an expert may not read the plan itself), or the "
        "panel in your scope for the office; as appraisalPlan.expertAssignments."
    )
    async def expert_assignments(
        self, info: GraphInfo, plan_id: uuid.UUID, mine: bool = False
    ) -> list[ExpertAssignment]:
        rows = await appraisal_graph(info).loaders.assignments_by_key.load((plan_id, mine))
        return [ExpertAssignment.from_record(r) for r in rows]

    @documented_field("One appraisal plan; null when it does not exist or you may not read it.")
    async def appraisal_plan(self, info: GraphInfo, id: uuid.UUID) -> AppraisalPlan | None:
        record = await appraisal_graph(info).loaders.plan_by_id.load(id)
        return AppraisalPlan.from_record(record) if record is not None else None

    @documented_field("Appraisal plans you may read (your scope and the units above you), by id order.")
    async def appraisal_plans(
        self, info: GraphInfo, status: str | None = None, first: int = 50, after: str | None = None
    ) -> AppraisalPlanConnection:
        params = _page(first, after)
        if status is not None:
            if len(status) > 32:
                raise GraphError(BAD_USER_INPUT, "status is not a plan status.")
            params["status"] = status
        graph = appraisal_graph(info)
        records, cursor = await graph.api.page("/api/v1/plans", PlanRecord, params)
        graph.loaders.plan_by_id.prime_many({r.id: r for r in records})
        return AppraisalPlanConnection(items=[AppraisalPlan.from_record(r) for r in records], next_cursor=cursor)

    @documented_field("One data point revision (any revision), with its flags; null when outside your scope.")
    async def data_point(self, info: GraphInfo, id: uuid.UUID) -> DataPoint | None:
        record = await appraisal_graph(info).loaders.data_point_by_id.load(id)
        return DataPoint.from_record(record) if record is not None else None

    @documented_field("Current values in your scope with their flags, by id order; filters as over REST.")
    async def data_points(
        self,
        info: GraphInfo,
        object_id: uuid.UUID | None = None,
        metric: str | None = None,
        period: str | None = None,
        flagged: bool | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> DataPointConnection:
        params = _page(first, after)
        if len(metric or "") > 64 or len(period or "") > 16:
            raise GraphError(BAD_USER_INPUT, "metric takes at most 64 characters, period at most 16.")
        for name, value in (("object_id", object_id), ("metric", metric), ("period", period)):
            if value is not None:
                params[name] = str(value)
        if flagged is not None:
            params["flagged"] = "true" if flagged else "false"
        graph = appraisal_graph(info)
        records, cursor = await graph.api.page("/api/v1/data-points", DataPointRecord, params)
        graph.loaders.data_point_by_id.prime_many({r.id: r for r in records})
        return DataPointConnection(items=[DataPoint.from_record(r) for r in records], next_cursor=cursor)
