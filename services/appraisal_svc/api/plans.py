"""REST routes of plans, their targets and their collection status."""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.appraisal_svc.api.common import plan_ids_of, with_etag
from services.appraisal_svc.collection import service as collection
from services.appraisal_svc.collection.anomaly import Tolerances
from services.appraisal_svc.collection.schemas import ScanResult
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.plan import service
from services.appraisal_svc.plan.schemas import (
    CollectionReport,
    CollectionRow,
    PlanCollectionPage,
    PlanCollectionRow,
    PlanCreate,
    PlanLeafRead,
    PlanObjectOfPlanPage,
    PlanObjectOfPlanRead,
    PlanObjectPage,
    PlanObjectRead,
    PlanPage,
    PlanRead,
    PlanTransition,
    PlanUpdate,
)
from services.appraisal_svc.tabular import format_of, read_rows, validate_rows
from services.appraisal_svc.target import service as targets
from services.appraisal_svc.target.models import Target
from services.appraisal_svc.target.schemas import (
    MAX_BULK_TARGETS,
    TargetAmend,
    TargetAmendmentRead,
    TargetBulkResult,
    TargetCascade,
    TargetIds,
    TargetPage,
    TargetRead,
    TargetSet,
)
from shared import idempotency
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.errors import BadRequest
from shared.pagination import MAX_LIMIT, PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["plans"])
Ids = Annotated[str | None, Query(max_length=20_000)]


def tolerances(request: Request) -> Tolerances:
    s = request.app.state.settings
    return Tolerances(
        robust_z=s.robust_z_threshold,
        min_peers=s.robust_z_min_peers,
        history=s.history_tolerance,
        authoritative=s.authoritative_tolerance,
    )


@router.post("/plans", status_code=201, response_model=PlanRead)
async def create_plan(
    request: Request,
    data: PlanCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Create a draft plan bound to one received framework version (409 if it has not arrived)."""

    async def create() -> dict[str, Any]:
        return (await service.create_plan(session, principal=principal, data=data)).model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json")),
        create=create,
        location="/api/v1/plans/{id}",
    )


@router.get("/plans", response_model=PlanPage)
async def list_plans(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[str | None, Query(max_length=32)] = None,
    ids: Ids = None,
) -> PlanPage:
    """Plans owned in your scope or by the units above you; ``ids`` batch-reads."""
    items, cursor = await service.list_plans(session, principal=principal, page=page, status=status, ids=parse_ids(ids))
    return PlanPage(items=items, next_cursor=cursor)


@router.get("/plans/{plan_id}", response_model=PlanRead)
async def get_plan(plan_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response) -> PlanRead:
    """One plan with the transitions it allows now; its ETag guards updates."""
    plan, owner_path = await service.load(session, principal=principal, plan_id=plan_id)
    with_etag(response, plan.lock_version)
    return await service.read_model(session, plan, owner_path)


@router.patch("/plans/{plan_id}", response_model=PlanRead)
async def update_plan(
    plan_id: uuid.UUID,
    data: PlanUpdate,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> PlanRead:
    """Change a draft plan (If-Match required)."""
    read = await service.update_plan(
        session, principal=principal, plan_id=plan_id, data=data, expected_version=expected_version(if_match)
    )
    with_etag(response, read.lock_version)
    return read


@router.post("/plans/{plan_id}/transitions", response_model=PlanRead)
async def transition_plan(
    plan_id: uuid.UUID,
    data: PlanTransition,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> PlanRead:
    """Move the plan to its next state (If-Match required); an illegal move is a 409 naming the allowed ones."""
    read = await service.transition(
        session,
        principal=principal,
        plan_id=plan_id,
        to=data.to,
        reason=data.reason,
        expected_version=expected_version(if_match),
    )
    with_etag(response, read.lock_version)
    return read


@router.get("/plans/{plan_id}/objects", response_model=PlanObjectPage)
async def list_plan_objects(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
) -> PlanObjectPage:
    """The plan's objects in your scope, with their peer groups."""
    items, cursor = await service.list_plan_objects(session, principal=principal, plan_id=plan_id, page=page)
    return PlanObjectPage(items=[PlanObjectRead.model_validate(i) for i in items], next_cursor=cursor)


def _encode_pair_cursor(key: tuple[uuid.UUID, uuid.UUID]) -> str:
    return base64.urlsafe_b64encode(key[0].bytes + key[1].bytes).rstrip(b"=").decode()


def _decode_pair_cursor(cursor: str) -> tuple[uuid.UUID, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 32:
            raise ValueError(cursor)
        return uuid.UUID(bytes=raw[:16]), uuid.UUID(bytes=raw[16:])
    except (binascii.Error, ValueError):
        raise BadRequest(
            "The cursor is not valid.", errors=[{"field": "cursor", "message": "not a cursor from this API"}]
        ) from None


@router.get("/plan-objects", response_model=PlanObjectOfPlanPage)
async def list_objects_of_plans(
    session: DBSession,
    principal: CurrentPrincipal,
    plan_ids: Annotated[str, Query(max_length=20_000)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PlanObjectOfPlanPage:
    """The objects (with peer groups) of several plans in one read, as each plan's own
    ``/plans/{id}/objects`` shows them to you; plans out of your sight contribute nothing."""
    items, after = await service.list_objects_of_plans(
        session,
        principal=principal,
        plan_ids=plan_ids_of(plan_ids),
        limit=limit,
        after=_decode_pair_cursor(cursor) if cursor else None,
    )
    return PlanObjectOfPlanPage(
        items=[PlanObjectOfPlanRead.model_validate(i) for i in items],
        next_cursor=_encode_pair_cursor(after) if after is not None else None,
    )


@router.get("/plans/{plan_id}/leaves", response_model=list[PlanLeafRead])
async def list_plan_leaves(plan_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> list[PlanLeafRead]:
    """The leaf indicators of the plan's framework version, with the metric each one reads."""
    return [
        PlanLeafRead.model_validate(leaf)
        for leaf in await service.list_leaves(session, principal=principal, plan_id=plan_id)
    ]


def _target_reads(found: list[Target], amendments: dict[uuid.UUID, list[Any]] | None = None) -> list[TargetRead]:
    amendments = amendments or {}
    return [
        TargetRead.model_validate(t).model_copy(
            update={"amendments": [TargetAmendmentRead.model_validate(a) for a in amendments.get(t.id, [])]}
        )
        for t in found
    ]


@router.post("/plans/{plan_id}/targets", response_model=TargetRead)
async def set_target(
    plan_id: uuid.UUID, data: TargetSet, session: DBSession, principal: CurrentPrincipal
) -> TargetRead:
    """Set (or reset, before approval) the target of one object on one leaf; checked against its scoring rule."""
    return TargetRead.model_validate(await targets.set_target(session, principal=principal, plan_id=plan_id, data=data))


@router.post("/plans/{plan_id}/targets/bulk", response_model=TargetBulkResult)
async def bulk_set_targets(
    plan_id: uuid.UUID,
    request: Request,
    session: DBSession,
    principal: CurrentPrincipal,
    format: Annotated[str | None, Query(pattern="^(json|csv|xlsx)$")] = None,
) -> TargetBulkResult:
    """Up to 50,000 targets (object_id, indicator_code, target, baseline, reason); all or nothing."""
    fmt = format_of(request.headers.get("content-type", ""), format)
    raw, first = await asyncio.to_thread(read_rows, await request.body(), fmt, max_rows=MAX_BULK_TARGETS)
    items = validate_rows(TargetSet, raw, first)
    written = await targets.bulk_set(session, principal=principal, plan_id=plan_id, items=items, first_row=first)
    return TargetBulkResult(written=written)


@router.post("/plans/{plan_id}/targets/cascade", response_model=list[TargetRead])
async def cascade_targets(
    plan_id: uuid.UUID, data: TargetCascade, session: DBSession, principal: CurrentPrincipal
) -> list[TargetRead]:
    """Split one object's target to the objects below it, by share or equally (sums checked), or copy it."""
    return _target_reads(await targets.cascade(session, principal=principal, plan_id=plan_id, data=data))


@router.post("/plans/{plan_id}/targets/confirmations", response_model=list[TargetRead])
async def confirm_targets(
    plan_id: uuid.UUID, data: TargetIds, session: DBSession, principal: CurrentPrincipal
) -> list[TargetRead]:
    """The appraised department confirms the targets set for its units."""
    return _target_reads(await targets.confirm(session, principal=principal, plan_id=plan_id, ids=data.ids))


@router.post("/plans/{plan_id}/targets/approvals", response_model=list[TargetRead])
async def approve_targets(
    plan_id: uuid.UUID, data: TargetIds, session: DBSession, principal: CurrentPrincipal
) -> list[TargetRead]:
    """The plan owner's performance office approves confirmed targets."""
    return _target_reads(await targets.approve(session, principal=principal, plan_id=plan_id, ids=data.ids))


@router.patch("/plans/{plan_id}/targets/{target_id}", response_model=TargetRead)
async def amend_target(
    plan_id: uuid.UUID,
    target_id: uuid.UUID,
    data: TargetAmend,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> TargetRead:
    """Amend an approved target with a reason; the old value is kept beside it."""
    target = await targets.amend(
        session,
        principal=principal,
        plan_id=plan_id,
        target_id=target_id,
        data=data,
        expected_version=expected_version(if_match),
    )
    with_etag(response, target.lock_version)
    return _target_reads([target], await targets.amendments_of(session, [target.id]))[0]


@router.get("/plans/{plan_id}/targets", response_model=TargetPage)
async def list_targets(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    object_id: uuid.UUID | None = None,
    ids: Ids = None,
) -> TargetPage:
    """Targets of the plan's objects in your scope, with their amendments."""
    found, cursor = await targets.list_targets(
        session, principal=principal, plan_id=plan_id, page=page, object_id=object_id, ids=parse_ids(ids)
    )
    return TargetPage(
        items=_target_reads(found, await targets.amendments_of(session, [t.id for t in found])), next_cursor=cursor
    )


@router.get("/targets", response_model=TargetPage)
async def list_targets_of_plans(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    plan_ids: Annotated[str, Query(max_length=20_000)],
) -> TargetPage:
    """The targets of several plans in one read, as each plan's own ``/plans/{id}/targets``
    shows them to you; plans out of your sight contribute nothing."""
    found, cursor = await targets.list_targets_of_plans(
        session, principal=principal, plan_ids=plan_ids_of(plan_ids), page=page
    )
    return TargetPage(
        items=_target_reads(found, await targets.amendments_of(session, [t.id for t in found])), next_cursor=cursor
    )


@router.get("/plans/{plan_id}/collection", response_model=CollectionReport)
async def get_collection_status(
    plan_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
) -> CollectionReport:
    """Completeness and timeliness of the plan's data per object in your scope."""
    plan, label, items, cursor = await collection.collection_report(
        session, principal=principal, plan_id=plan_id, page=page
    )
    return CollectionReport(
        plan_id=plan.id,
        period=label,
        submission_deadline=plan.submission_deadline,
        items=[CollectionRow.model_validate(i) for i in items],
        next_cursor=cursor,
    )


@router.get("/collection", response_model=PlanCollectionPage)
async def list_collection_of_plans(
    session: DBSession,
    principal: CurrentPrincipal,
    plan_ids: Annotated[str, Query(max_length=20_000)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PlanCollectionPage:
    """Collection status per object of several plans in one read, as each plan's own
    ``/plans/{id}/collection`` shows it to you; plans out of your sight contribute nothing."""
    items, after = await collection.collection_of_plans(
        session,
        principal=principal,
        plan_ids=plan_ids_of(plan_ids),
        after=_decode_pair_cursor(cursor) if cursor else None,
        limit=limit,
    )
    return PlanCollectionPage(
        items=[PlanCollectionRow.model_validate(i) for i in items],
        next_cursor=_encode_pair_cursor(after) if after is not None else None,
    )


@router.post("/plans/{plan_id}/anomaly-scans", response_model=ScanResult)
async def scan_plan(
    plan_id: uuid.UUID, request: Request, session: DBSession, principal: CurrentPrincipal
) -> ScanResult:
    """Run every anomaly rule over the plan's current data now (set-based); returns the new flags."""
    keys, raised = await collection.scan_plan(
        session, principal=principal, plan_id=plan_id, tolerances=tolerances(request)
    )
    return ScanResult(keys=keys, flags_raised=raised)
