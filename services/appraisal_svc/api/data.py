"""REST routes of data collection: submission, verification, flags and evidence."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.appraisal_svc.api.common import with_etag
from services.appraisal_svc.api.plans import tolerances
from services.appraisal_svc.collection import service
from services.appraisal_svc.collection.models import DataFlag, DataPoint
from services.appraisal_svc.collection.schemas import (
    MAX_BULK_ROWS,
    BulkResult,
    DataPointDetail,
    DataPointPage,
    DataPointRead,
    DataPointSubmit,
    DataPointTransition,
    EvidenceRead,
    FlagRaise,
    FlagRead,
    FlagResolve,
)
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.tabular import format_of, read_rows, validate_rows
from shared import idempotency
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.errors import PayloadTooLarge
from shared.evidence import EvidenceStore
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["data"])
Ids = Annotated[str | None, Query(max_length=20_000)]
# 100,000 rows as JSON are ~15 MB; the service's body cap (max_body_bytes) admits them.
MAX_BULK_BYTES = 24 * 1024 * 1024


def read_model(point: DataPoint, flags: list[DataFlag] | None = None) -> DataPointRead:
    evidence = (
        EvidenceRead(
            sha256=point.evidence_sha256,
            name=point.evidence_name or "",
            size=point.evidence_size or 0,
            media_type=point.evidence_type or "",
        )
        if point.evidence_sha256
        else None
    )
    return DataPointRead.model_validate(point).model_copy(
        update={"evidence": evidence, "flags": [FlagRead.model_validate(f) for f in flags or []]}
    )


async def _detail(session: DBSession, point: DataPoint) -> DataPointDetail:
    revisions = await service.revisions_of(session, point)
    flags = await service.flags_of(session, [r.id for r in revisions])
    return DataPointDetail.model_validate(
        {
            **read_model(point, flags.get(point.id)).model_dump(),
            "revisions": [read_model(r, flags.get(r.id)) for r in revisions],
        }
    )


@router.post("/data-points", status_code=201, response_model=DataPointDetail)
async def submit_data_point(
    request: Request,
    data: DataPointSubmit,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Submit one value (a new revision if one exists); anomaly rules run at once."""

    async def create() -> dict[str, Any]:
        _, point_id, _ = await service.submit(session, principal=principal, rows=[data], tolerances=tolerances(request))
        point, _ = await service.load_point(session, principal=principal, point_id=point_id)
        return (await _detail(session, point)).model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, data.model_dump(mode="json")),
        create=create,
        location="/api/v1/data-points/{id}",
    )


async def _capped_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Bulk files are limited to {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/data-points/bulk", response_model=BulkResult)
async def submit_data_points_bulk(
    request: Request,
    session: DBSession,
    principal: CurrentPrincipal,
    format: Annotated[str | None, Query(pattern="^(json|csv|xlsx)$")] = None,
) -> BulkResult:
    """Up to 100,000 values as JSON, CSV or xlsx; all or nothing, errors by row and column."""
    fmt = format_of(request.headers.get("content-type", ""), format)
    raw, first = await asyncio.to_thread(
        read_rows, await _capped_body(request, MAX_BULK_BYTES), fmt, max_rows=MAX_BULK_ROWS
    )
    rows = await asyncio.to_thread(validate_rows, DataPointSubmit, raw, first)
    count, _, raised = await service.submit(
        session, principal=principal, rows=rows, tolerances=tolerances(request), first_row=first
    )
    return BulkResult(submitted=count, flags_raised=raised)


@router.get("/data-points", response_model=DataPointPage)
async def list_data_points(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    object_id: uuid.UUID | None = None,
    metric: Annotated[str | None, Query(max_length=64)] = None,
    period: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    flagged: bool | None = None,
    ids: Ids = None,
    revisions_of: Ids = None,
) -> DataPointPage:
    """Current values in your scope (``ids`` batch-reads any revision; ``revisions_of`` reads
    every revision of the values those points hold), with their flags."""
    found, cursor = await service.list_points(
        session,
        principal=principal,
        page=page,
        object_id=object_id,
        metric=metric,
        period=period,
        status=status,
        flagged=flagged,
        ids=parse_ids(ids),
        revisions_of_ids=parse_ids(revisions_of, field="revisions_of"),
    )
    flags = await service.flags_of(session, [p.id for p in found])
    return DataPointPage(items=[read_model(p, flags.get(p.id)) for p in found], next_cursor=cursor)


@router.get("/data-points/{point_id}", response_model=DataPointDetail)
async def get_data_point(
    point_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> DataPointDetail:
    """One revision with its flags and every revision of the same value."""
    point, _ = await service.load_point(session, principal=principal, point_id=point_id)
    with_etag(response, point.lock_version)
    return await _detail(session, point)


@router.post("/data-points/{point_id}/transitions", response_model=DataPointDetail)
async def transition_data_point(
    point_id: uuid.UUID,
    data: DataPointTransition,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> DataPointDetail:
    """Verify (a verifier from outside the submitting unit), accept (blocked by open flags) or reject with a reason."""
    point = await service.transition(
        session,
        principal=principal,
        point_id=point_id,
        to=data.to,
        reason=data.reason,
        expected_version=expected_version(if_match),
    )
    with_etag(response, point.lock_version)
    return await _detail(session, point)


@router.post("/data-points/{point_id}/flags", status_code=201, response_model=FlagRead)
async def flag_data_point(
    point_id: uuid.UUID, data: FlagRaise, session: DBSession, principal: CurrentPrincipal
) -> FlagRead:
    """Audit flags a value; acceptance waits until the flag is resolved with a note."""
    return FlagRead.model_validate(
        await service.raise_flag(session, principal=principal, point_id=point_id, note=data.note)
    )


@router.post("/flags/{flag_id}/resolution", response_model=FlagRead)
async def resolve_flag(
    flag_id: uuid.UUID, data: FlagResolve, session: DBSession, principal: CurrentPrincipal
) -> FlagRead:
    """Resolve an open flag with a note (kept with the flag)."""
    return FlagRead.model_validate(
        await service.resolve_flag(session, principal=principal, flag_id=flag_id, note=data.note)
    )


def _store(request: Request) -> EvidenceStore:
    store: EvidenceStore = request.app.state.evidence_store
    return store


@router.post("/evidence", status_code=201, response_model=EvidenceRead)
async def upload_evidence(
    request: Request,
    session: DBSession,
    principal: CurrentPrincipal,
    name: Annotated[str, Query(min_length=1, max_length=200)],
) -> EvidenceRead:
    """Store a file (PDF, PNG, JPEG, xlsx, CSV, text) under its sha256; cite the hash when submitting."""
    store = _store(request)
    data = await _capped_body(request, store.max_bytes)
    evidence = await service.upload_evidence(
        session,
        principal=principal,
        store=store,
        data=data,
        media_type=request.headers.get("content-type", ""),
        name=name,
    )
    return EvidenceRead(sha256=evidence.sha256, name=evidence.name, size=evidence.size, media_type=evidence.media_type)


@router.get("/evidence/{sha256}", response_class=Response)
async def download_evidence(
    sha256: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    request: Request,
    session: DBSession,
    principal: CurrentPrincipal,
) -> Response:
    """The file, if you uploaded it or may read a value that cites it."""
    evidence = await service.evidence_for_download(session, principal=principal, sha256=sha256)
    data = await _store(request).read(evidence.sha256)
    return Response(
        data,
        media_type=evidence.media_type,
        headers={
            "Content-Disposition": "attachment",
            "ETag": f'"{evidence.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
