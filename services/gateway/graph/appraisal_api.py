"""The appraisal part of the graph: the org tree (parent, children, appraisal objects),
appraisal plans with their cycle, framework version, objects (peer groups), targets and
collection status, and data points with their flags and revisions.

Every call goes to appraisal_svc's REST API with the caller's own token, so the service's role and
org-scope checks decide what is seen: a unit outside the caller's subtree is null here as it is
absent there. Every relation is batched per GraphQL request: a page of units with their parents,
children and objects costs four service calls however many units it holds (a relation holding
more than one page of rows, 500, costs one call more per further page)."""

from __future__ import annotations

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
from services.gateway.graph.errors import BAD_USER_INPUT, UNAVAILABLE, GraphError, error_for_status
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


RecordT = TypeVar("RecordT", bound=_Record)


class AppraisalApi:
    """appraisal_svc seen with one caller's credentials (built per GraphQL request)."""

    def __init__(self, upstreams: Upstreams, headers: dict[str, str]) -> None:
        self._upstreams, self._headers = upstreams, headers

    async def get(self, path: str, params: dict[str, str | int]) -> Any:
        try:
            response = await self._upstreams.get(SERVICE, path, params=params, headers=self._headers)
        except NotFound:
            log.error("graph: no upstream configured for %s", SERVICE)
            raise GraphError(UNAVAILABLE, "The appraisal service is unavailable.") from None
        except UpstreamFailure as exc:
            log.warning("graph: %s unreachable: %s", SERVICE, exc)
            raise GraphError(UNAVAILABLE, "The appraisal service is unavailable.") from None
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
        record = await appraisal_graph(info).loaders.unit_by_id.load(self.org_unit_id)
        return OrgUnit.from_record(record) if record is not None else None


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
        record = await appraisal_graph(info).loaders.unit_by_id.load(self.parent_id)
        return OrgUnit.from_record(record) if record is not None else None

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
        record = await appraisal_graph(info).loaders.unit_by_id.load(self.owner_unit_id)
        return OrgUnit.from_record(record) if record is not None else None

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
        record = await appraisal_graph(info).loaders.object_by_id.load(self.object_id)
        return AppraisalObject.from_record(record) if record is not None else None


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
        record = await appraisal_graph(info).loaders.object_by_id.load(self.object_id)
        return AppraisalObject.from_record(record) if record is not None else None


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
        record = await appraisal_graph(info).loaders.object_by_id.load(self.object_id)
        return AppraisalObject.from_record(record) if record is not None else None


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
        record = await appraisal_graph(info).loaders.object_by_id.load(self.object_id)
        return AppraisalObject.from_record(record) if record is not None else None

    @documented_field("Every revision of this value (this one included), oldest first, with their flags.")
    async def revisions(self, info: GraphInfo) -> list[DataPoint]:
        return [DataPoint.from_record(r) for r in await appraisal_graph(info).loaders.revisions_by_point.load(self.id)]


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
        record = await appraisal_graph(info).loaders.unit_by_id.load(id)
        return OrgUnit.from_record(record) if record is not None else None

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
        record = await appraisal_graph(info).loaders.object_by_id.load(id)
        return AppraisalObject.from_record(record) if record is not None else None

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
