"""REST routes of the org tree, appraisal objects, cycles and received framework versions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.appraisal_svc.api.common import with_etag
from services.appraisal_svc.cycle import service as cycles
from services.appraisal_svc.cycle.schemas import CycleCreate, CycleKind, CyclePage, CycleRead
from services.appraisal_svc.db import TABLES
from services.appraisal_svc.framework import service as frameworks
from services.appraisal_svc.framework.schemas import FrameworkVersionPage, FrameworkVersionRead
from services.appraisal_svc.orgunit import service
from services.appraisal_svc.orgunit.models import ObjectKind, UnitKind
from services.appraisal_svc.orgunit.schemas import (
    ObjectCreate,
    ObjectPage,
    ObjectRead,
    OrgUnitCreate,
    OrgUnitImportResult,
    OrgUnitImportRow,
    OrgUnitPage,
    OrgUnitRead,
    OrgUnitUpdate,
)
from services.appraisal_svc.tabular import format_of, read_rows, validate_rows
from shared import idempotency
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import OrgPath
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["org units"])
Ids = Annotated[str | None, Query(max_length=20_000)]
MAX_IMPORT_UNITS = 20_000


async def _once(
    request: Request, session: DBSession, subject: str, key: str | None, body: Any, create: Any, location: str
) -> Any:
    return await idempotency.create_once(
        session,
        TABLES,
        subject=subject,
        key=key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, body),
        create=create,
        location=location,
    )


@router.post("/org-units", status_code=201, response_model=OrgUnitRead)
async def create_org_unit(
    request: Request,
    data: OrgUnitCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Add a unit under a parent in your scope (a root needs the whole tree as scope)."""

    async def create() -> dict[str, Any]:
        unit = await service.create_unit(session, principal=principal, data=data)
        return OrgUnitRead.model_validate(unit).model_dump(mode="json")

    return await _once(
        request,
        session,
        principal.subject,
        idempotency_key,
        data.model_dump(mode="json"),
        create,
        "/api/v1/org-units/{id}",
    )


@router.post("/org-units/import", status_code=201, response_model=OrgUnitImportResult)
async def import_org_units(
    request: Request,
    session: DBSession,
    principal: CurrentPrincipal,
    format: Annotated[str | None, Query(pattern="^(json|csv|xlsx)$")] = None,
) -> OrgUnitImportResult:
    """Import a tree from JSON, CSV or xlsx (columns org_path, name, kind, peer_group); all or nothing."""
    fmt = format_of(request.headers.get("content-type", ""), format)
    raw, first = await asyncio.to_thread(read_rows, await request.body(), fmt, max_rows=MAX_IMPORT_UNITS)
    rows = validate_rows(OrgUnitImportRow, raw, first)
    units = await service.import_units(session, principal=principal, rows=rows, first_row=first)
    return OrgUnitImportResult(created=len(units), items=[OrgUnitRead.model_validate(u) for u in units[:500]])


@router.get("/org-units", response_model=OrgUnitPage)
async def list_org_units(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    parent_id: uuid.UUID | None = None,
    under: Annotated[OrgPath | None, Query()] = None,
    kind: UnitKind | None = None,
    include_deleted: bool = False,
    ids: Ids = None,
    parent_ids: Ids = None,
) -> OrgUnitPage:
    """Units in your scope; ``parent_id`` lists children, ``under`` a subtree, ``ids`` batch-reads,
    ``parent_ids`` batch-reads the children of many units."""
    items, cursor = await service.list_units(
        session,
        principal=principal,
        page=page,
        parent_id=parent_id,
        under=under,
        kind=kind,
        ids=parse_ids(ids),
        include_deleted=include_deleted,
        parent_ids=parse_ids(parent_ids, field="parent_ids"),
    )
    return OrgUnitPage(items=[OrgUnitRead.model_validate(u) for u in items], next_cursor=cursor)


@router.get("/org-units/{unit_id}", response_model=OrgUnitRead)
async def get_org_unit(
    unit_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> OrgUnitRead:
    """One unit in your scope; its ETag guards updates."""
    unit = await service.get_unit(session, principal=principal, unit_id=unit_id)
    with_etag(response, unit.lock_version)
    return OrgUnitRead.model_validate(unit)


@router.patch("/org-units/{unit_id}", response_model=OrgUnitRead)
async def update_org_unit(
    unit_id: uuid.UUID,
    data: OrgUnitUpdate,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> OrgUnitRead:
    """Rename, re-code or move a unit; a new path rewrites the whole subtree in one statement."""
    unit = await service.update_unit(
        session, principal=principal, unit_id=unit_id, data=data, expected_version=expected_version(if_match)
    )
    with_etag(response, unit.lock_version)
    return OrgUnitRead.model_validate(unit)


@router.delete("/org-units/{unit_id}", status_code=204)
async def delete_org_unit(
    unit_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, if_match: IfMatch = None
) -> Response:
    """Mark a unit without sub-units deleted (kept for the record)."""
    await service.delete_unit(
        session, principal=principal, unit_id=unit_id, expected_version=expected_version(if_match)
    )
    return Response(status_code=204)


@router.post("/objects", status_code=201, response_model=ObjectRead)
async def create_object(
    request: Request,
    data: ObjectCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Make a unit (government or department), an official, a project or a policy appraisable."""

    async def create() -> dict[str, Any]:
        return ObjectRead.model_validate(
            await service.create_object(session, principal=principal, data=data)
        ).model_dump(mode="json")

    return await _once(
        request,
        session,
        principal.subject,
        idempotency_key,
        data.model_dump(mode="json"),
        create,
        "/api/v1/objects/{id}",
    )


@router.get("/objects", response_model=ObjectPage)
async def list_objects(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    org_unit_id: uuid.UUID | None = None,
    kind: ObjectKind | None = None,
    ids: Ids = None,
    org_unit_ids: Ids = None,
) -> ObjectPage:
    """Appraisal objects in your scope; ``ids`` batch-reads, ``org_unit_ids`` batch-reads by unit."""
    items, cursor = await service.list_objects(
        session,
        principal=principal,
        page=page,
        org_unit_id=org_unit_id,
        kind=kind,
        ids=parse_ids(ids),
        org_unit_ids=parse_ids(org_unit_ids, field="org_unit_ids"),
    )
    return ObjectPage(items=[ObjectRead.model_validate(o) for o in items], next_cursor=cursor)


@router.get("/objects/{object_id}", response_model=ObjectRead)
async def get_object(object_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> ObjectRead:
    """One appraisal object in your scope."""
    return ObjectRead.model_validate(await service.get_object(session, principal=principal, object_id=object_id))


@router.post("/cycles", status_code=201, response_model=CycleRead)
async def create_cycle(
    request: Request,
    data: CycleCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """A monthly, quarterly, annual or term cycle, optionally inside a parent cycle."""

    async def create() -> dict[str, Any]:
        body = CycleRead.model_validate(await cycles.create_cycle(session, principal=principal, data=data)).model_dump(
            mode="json"
        )
        return body

    return await _once(
        request,
        session,
        principal.subject,
        idempotency_key,
        data.model_dump(mode="json"),
        create,
        "/api/v1/cycles/{id}",
    )


@router.get("/cycles", response_model=CyclePage)
async def list_cycles(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    kind: CycleKind | None = None,
    ids: Ids = None,
) -> CyclePage:
    """Cycles of your scope and of the units above it."""
    items, cursor = await cycles.list_cycles(session, principal=principal, page=page, kind=kind, ids=parse_ids(ids))
    return CyclePage(items=[CycleRead.model_validate(c) for c in items], next_cursor=cursor)


@router.get("/cycles/{cycle_id}", response_model=CycleRead)
async def get_cycle(cycle_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> CycleRead:
    """One cycle."""
    return CycleRead.model_validate(await cycles.get_cycle(session, principal=principal, cycle_id=cycle_id))


@router.get("/framework-versions", response_model=FrameworkVersionPage)
async def list_framework_versions(
    session: DBSession, principal: CurrentPrincipal, page: Annotated[PageParams, Depends(page_params)], ids: Ids = None
) -> FrameworkVersionPage:
    """Published framework versions received from the indicator service."""
    items, cursor = await frameworks.list_versions(session, principal=principal, page=page, ids=parse_ids(ids))
    return FrameworkVersionPage(items=[FrameworkVersionRead.model_validate(f) for f in items], next_cursor=cursor)


@router.get("/framework-versions/{framework_id}", response_model=FrameworkVersionRead)
async def get_framework_version(
    framework_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> FrameworkVersionRead:
    """One received framework version (404 until its publication event has arrived)."""
    return FrameworkVersionRead.model_validate(
        await frameworks.get_version(session, principal=principal, framework_id=framework_id)
    )
