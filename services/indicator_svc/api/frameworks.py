"""REST routes of indicator_svc: thin, parse -> service -> response model."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.indicator_svc.db import TABLES
from services.indicator_svc.framework import codecs, service
from services.indicator_svc.framework.content import IndicatorSpec
from services.indicator_svc.framework.logic import BalanceReport, FrameworkDiff
from services.indicator_svc.framework.models import Framework, FrameworkStatus, Indicator
from services.indicator_svc.framework.schemas import (
    ExportFormat,
    FrameworkCreate,
    FrameworkDerive,
    FrameworkPage,
    FrameworkPublish,
    FrameworkRead,
    FrameworkUpdate,
    IndicatorList,
    IndicatorRead,
    IndicatorWrite,
    ValidationReport,
)
from shared import idempotency
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import OrgPath, Principal
from shared.cache import ImmutableCache
from shared.errors import Unprocessable, UnsupportedMediaType
from shared.openapi import problems
from shared.pagination import PageParams, page_params, parse_ids
from shared.reads import DBReader
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["frameworks"])

IndicatorCode = Annotated[str, Path(max_length=64)]
MEDIA_TYPES = {
    "json": "application/json",
    "yaml": "application/yaml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_FRAMEWORKS_PER_BATCH = 50
NO_OVERRIDE = FrameworkPublish()
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
# Generators know binary bodies as octet-stream; the media types of MEDIA_TYPES work the same way.
IMPORT_BODY: dict[str, Any] = {
    "required": True,
    "description": "The framework file as YAML, JSON or xlsx: name the format with ?format= "
    "or send it with its own media type (" + ", ".join(MEDIA_TYPES.values()) + ").",
    "content": {"application/octet-stream": BINARY},
}
ETAG_HEADER: dict[str, Any] = {
    "ETag": {"description": "The version to send back in If-Match.", "schema": {"type": "string", "example": '"3"'}}
}
WITH_ETAG: dict[int | str, dict[str, Any]] = {200: {"description": "The framework.", "headers": ETAG_HEADER}}


def framework_etag(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": description, "headers": ETAG_HEADER}}


EXPORTED: dict[int | str, dict[str, Any]] = {200: {"content": {t: BINARY for t in MEDIA_TYPES.values()}}}
EXAMPLE_CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "The new draft; Location names it.",
        "headers": {"Location": {"description": "The draft's path.", "schema": {"type": "string"}}, **ETAG_HEADER},
    }
}
DECODERS = {"json": codecs.from_json, "yaml": codecs.from_yaml, "xlsx": codecs.from_xlsx}
ENCODERS = {"json": codecs.to_json, "yaml": codecs.to_yaml, "xlsx": codecs.to_xlsx}


def published_frameworks(request: Request) -> ImmutableCache[FrameworkRead]:
    """This process's cache of published versions (their content never changes; retiring drops one)."""
    cache: ImmutableCache[FrameworkRead] = request.app.state.published_frameworks
    return cache


def etag(framework: Framework | FrameworkRead) -> str:
    return f'"{framework.lock_version}"'


def framework_response(framework: Framework, response: Response) -> FrameworkRead:
    response.headers["ETag"] = etag(framework)
    return FrameworkRead.model_validate(framework)


def indicator_reads(indicators: list[Indicator]) -> list[IndicatorRead]:
    by_framework: dict[uuid.UUID, list[Indicator]] = {}
    for indicator in indicators:
        by_framework.setdefault(indicator.framework_id, []).append(indicator)
    reads = []
    for group in by_framework.values():
        levels = service.level_map(group)
        reads += [
            IndicatorRead.model_validate(
                {
                    **service.spec_of(i).model_dump(),
                    "id": i.id,
                    "framework_id": i.framework_id,
                    "position": i.position,
                    "level": levels[i.code],
                }
            )
            for i in group
        ]
    return reads


async def idempotent_create(
    request: Request,
    session: DBSession,
    principal: Principal,
    key: str | None,
    body: Any,
    create: Callable[[], Awaitable[Framework]],
) -> JSONResponse:
    """Run ``create`` once per Idempotency-Key; a retry gets the stored 201 answer."""

    async def created() -> dict[str, Any]:
        return FrameworkRead.model_validate(await create()).model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=principal.subject,
        key=key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, body),
        create=created,
        location="/api/v1/frameworks/{id}",
    )


@router.post("/frameworks", name="create", status_code=201, response_model=FrameworkRead, responses=EXAMPLE_CREATED)
async def create_framework(
    request: Request,
    data: FrameworkCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create an empty draft framework owned by an org unit in your scope."""
    return await idempotent_create(
        request,
        session,
        principal,
        idempotency_key,
        data.model_dump(mode="json"),
        lambda: service.create_framework(session, principal=principal, data=data),
    )


@router.get("/frameworks", name="list", response_model=FrameworkPage, responses=problems(400))
async def list_frameworks(
    reader: DBReader,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    status: FrameworkStatus | None = None,
    code: Annotated[str | None, Query(max_length=64)] = None,
    org_path: Annotated[OrgPath | None, Query()] = None,
    lineage_id: uuid.UUID | None = None,
    ids: Annotated[str | None, Query(max_length=20_000)] = None,
) -> FrameworkPage:
    """List frameworks you may read (published ones and drafts in your scope); ``ids`` batch-reads."""
    filters = service.FrameworkFilters(
        status=status, code=code, org_path=org_path, lineage_id=lineage_id, ids=parse_ids(ids)
    )
    items, next_cursor = await service.read_frameworks(reader, principal=principal, filters=filters, page=page)
    return FrameworkPage(items=items, next_cursor=next_cursor)


@router.post(
    "/frameworks/import",
    name="import",
    status_code=201,
    response_model=FrameworkRead,
    responses=problems(415),
    openapi_extra={"requestBody": IMPORT_BODY},
)
async def import_framework(
    request: Request,
    session: DBSession,
    principal: CurrentPrincipal,
    org_unit_id: uuid.UUID,
    org_path: Annotated[OrgPath, Query()],
    format: ExportFormat | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a draft from a YAML, JSON or xlsx file (raw request body); errors list row and column."""
    fmt = format or _format_of(request.headers.get("content-type", ""))
    data = await request.body()
    try:
        # A worker thread: parsing a large workbook must not stall every other request on this loop.
        content = await asyncio.to_thread(DECODERS[fmt], data)
    except codecs.CodecError as exc:
        raise Unprocessable(
            f"The file has {len(exc.errors)} error(s); nothing was imported.",
            errors=[e.model_dump(mode="json", exclude_none=True) for e in exc.errors],
        ) from None
    body = {
        "sha256": idempotency.request_fingerprint("import", fmt, data.hex()),
        "org_unit_id": str(org_unit_id),
        "org_path": org_path,
    }
    return await idempotent_create(
        request,
        session,
        principal,
        idempotency_key,
        body,
        lambda: service.import_framework(
            session, principal=principal, content=content, org_unit_id=org_unit_id, org_path=org_path
        ),
    )


def _format_of(content_type: str) -> str:
    media = content_type.split(";")[0].strip().lower()
    for fmt, known in MEDIA_TYPES.items():
        if media == known or (fmt == "yaml" and media in {"text/yaml", "application/x-yaml"}):
            return fmt
    raise UnsupportedMediaType("Send JSON, YAML or xlsx (by Content-Type or ?format=).")


@router.get("/frameworks/{framework_id}", name="get", response_model=FrameworkRead, responses=WITH_ETAG | problems(404))
async def get_framework(
    request: Request, framework_id: uuid.UUID, reader: DBReader, principal: CurrentPrincipal, response: Response
) -> FrameworkRead:
    """Read one framework version; its ETag is the version to send back in If-Match."""
    framework = await service.read_framework(
        reader, principal=principal, framework_id=framework_id, published=published_frameworks(request)
    )
    response.headers["ETag"] = etag(framework)
    return framework


@router.patch(
    "/frameworks/{framework_id}", name="update", response_model=FrameworkRead, responses=WITH_ETAG | problems(404, 409)
)
async def update_framework(
    framework_id: uuid.UUID,
    data: FrameworkUpdate,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> FrameworkRead:
    """Change a draft's name, description, total points or balance policy."""
    framework = await service.update_framework(
        session,
        principal=principal,
        framework_id=framework_id,
        data=data,
        expected_version=expected_version(if_match, data.version),
    )
    return framework_response(framework, response)


@router.delete("/frameworks/{framework_id}", name="delete", status_code=204, responses=problems(404, 409))
async def delete_framework(
    framework_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, if_match: IfMatch = None
) -> Response:
    """Delete a draft (published versions are permanent)."""
    await service.delete_framework(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version(if_match)
    )
    return Response(status_code=204)


@router.get(
    "/frameworks/{framework_id}/indicators",
    name="list_indicators",
    response_model=IndicatorList,
    responses=problems(404),
)
async def list_framework_indicators(
    framework_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> IndicatorList:
    """The indicator tree of one framework, in display order (parents before their children's siblings)."""
    framework = await service.get_framework(session, principal=principal, framework_id=framework_id)
    return IndicatorList(items=indicator_reads(await service.list_indicators(session, framework_ids=[framework.id])))


@router.get("/indicators", name="batch_indicators", response_model=IndicatorList, responses=problems(400))
async def batch_indicators(
    session: DBSession, principal: CurrentPrincipal, framework_ids: Annotated[str, Query(max_length=20_000)]
) -> IndicatorList:
    """Indicators of many frameworks at once (for DataLoaders); unreadable frameworks are left out."""
    # Each framework may hold 2000 indicators: a smaller batch keeps one answer bounded.
    ids = parse_ids(framework_ids, field="framework_ids", max_ids=MAX_FRAMEWORKS_PER_BATCH) or []
    indicators = await service.indicators_of_readable(session, principal=principal, framework_ids=ids)
    return IndicatorList(items=indicator_reads(indicators))


@router.post(
    "/frameworks/{framework_id}/indicators",
    name="add_indicator",
    status_code=201,
    response_model=IndicatorRead,
    responses=framework_etag(201, "The indicator; ETag is the framework's new version.") | problems(404, 409),
)
async def add_indicator(
    framework_id: uuid.UUID,
    data: IndicatorWrite,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> IndicatorRead:
    """Add an indicator to a draft (appended after its siblings)."""
    indicator = await service.add_indicator(
        session,
        principal=principal,
        framework_id=framework_id,
        spec=_spec(data),
        expected_version=expected_version(if_match, data.version),
    )
    response.headers.update(await _framework_etag(session, framework_id))
    return await _read_one(session, indicator)


@router.put(
    "/frameworks/{framework_id}/indicators/{code}",
    name="replace_indicator",
    response_model=IndicatorRead,
    responses=framework_etag(200, "The indicator; ETag is the framework's new version.") | problems(404, 409),
)
async def replace_indicator(
    framework_id: uuid.UUID,
    code: IndicatorCode,
    data: IndicatorWrite,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> IndicatorRead:
    """Replace one indicator of a draft; a new code renames it and keeps its children."""
    indicator = await service.replace_indicator(
        session,
        principal=principal,
        framework_id=framework_id,
        code=code,
        spec=_spec(data),
        expected_version=expected_version(if_match, data.version),
    )
    response.headers.update(await _framework_etag(session, framework_id))
    return await _read_one(session, indicator)


@router.delete(
    "/frameworks/{framework_id}/indicators/{code}",
    name="delete_indicator",
    status_code=204,
    responses=framework_etag(204, "Deleted; ETag is the framework's new version.") | problems(404, 409),
)
async def delete_indicator(
    framework_id: uuid.UUID,
    code: IndicatorCode,
    session: DBSession,
    principal: CurrentPrincipal,
    cascade: bool = False,
    if_match: IfMatch = None,
) -> Response:
    """Delete an indicator of a draft (with its sub-indicators when ``cascade=true``)."""
    await service.delete_indicator(
        session,
        principal=principal,
        framework_id=framework_id,
        code=code,
        cascade=cascade,
        expected_version=expected_version(if_match),
    )
    return Response(status_code=204, headers=await _framework_etag(session, framework_id))


async def _framework_etag(session: DBSession, framework_id: uuid.UUID) -> dict[str, str]:
    """The framework's ETag after a write to its indicators (the write loaded it: no query)."""
    framework = await session.get(Framework, framework_id)
    return {"ETag": etag(framework)} if framework is not None else {}


def _spec(data: IndicatorWrite) -> IndicatorSpec:
    return IndicatorSpec.model_validate(data.model_dump(exclude={"version"}))


async def _read_one(session: DBSession, indicator: Indicator) -> IndicatorRead:
    siblings = await service.list_indicators(session, framework_ids=[indicator.framework_id])
    return next(r for r in indicator_reads(siblings) if r.code == indicator.code)


@router.get(
    "/frameworks/{framework_id}/validation", name="validate", response_model=ValidationReport, responses=problems(404)
)
async def validate_framework(
    framework_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> ValidationReport:
    """Every problem that would block publishing, all at once."""
    problems = await service.validation_report(session, principal=principal, framework_id=framework_id)
    return ValidationReport(valid=not problems, problems=problems)


@router.get("/frameworks/{framework_id}/balance", name="balance", response_model=BalanceReport, responses=problems(404))
async def balance(framework_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> BalanceReport:
    """Weight shares by category, nature, external evaluation and satisfaction, checked against the policy."""
    return await service.balance_report(session, principal=principal, framework_id=framework_id)


@router.get("/frameworks/{framework_id}/diff", name="diff", response_model=FrameworkDiff, responses=problems(404))
async def diff(
    framework_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, against: uuid.UUID | None = None
) -> FrameworkDiff:
    """Changes from ``against`` (default: its template, else its previous version) to this framework."""
    _, changes = await service.diff_frameworks(
        session, principal=principal, framework_id=framework_id, against_id=against
    )
    return changes


@router.post(
    "/frameworks/{framework_id}/publish",
    name="publish",
    response_model=FrameworkRead,
    responses=WITH_ETAG | problems(404, 409),
)
async def publish(
    framework_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    # Optional, but not nullable: generated clients send nothing rather than an encoded "unset".
    data: Annotated[FrameworkPublish, Body()] = NO_OVERRIDE,
    if_match: IfMatch = None,
) -> FrameworkRead:
    """Freeze a valid draft as a published version (a policy breach needs an override reason)."""
    framework = await service.publish(
        session,
        principal=principal,
        framework_id=framework_id,
        override_reason=data.override_reason,
        expected_version=expected_version(if_match, data.version),
    )
    return framework_response(framework, response)


@router.post(
    "/frameworks/{framework_id}/retire",
    name="retire",
    response_model=FrameworkRead,
    responses=WITH_ETAG | problems(404, 409),
)
async def retire(
    request: Request,
    framework_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    after_response: BackgroundTasks,
    if_match: IfMatch = None,
) -> FrameworkRead:
    """Retire a published version: it stays readable, plans stop choosing it."""
    framework = await service.retire(
        session, principal=principal, framework_id=framework_id, expected_version=expected_version(if_match)
    )
    # Dropped now and again once committed: a read of the old row in between cannot stay cached.
    cache = published_frameworks(request)
    cache.discard(framework_id)
    after_response.add_task(cache.discard, framework_id)
    return framework_response(framework, response)


@router.post(
    "/frameworks/{framework_id}/derive",
    name="derive",
    status_code=201,
    response_model=FrameworkRead,
    responses=problems(404, 409),
)
async def derive(
    request: Request,
    framework_id: uuid.UUID,
    data: FrameworkDerive,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Start a local draft from a published template; its diff to the template stays visible."""
    return await idempotent_create(
        request,
        session,
        principal,
        idempotency_key,
        data.model_dump(mode="json"),
        lambda: service.derive(session, principal=principal, template_id=framework_id, data=data),
    )


@router.post(
    "/frameworks/{framework_id}/versions",
    name="new_version",
    status_code=201,
    response_model=FrameworkRead,
    responses=problems(404, 409),
)
async def new_version(
    request: Request,
    framework_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Open the next version of a published framework as a draft (one open draft per lineage)."""
    return await idempotent_create(
        request,
        session,
        principal,
        idempotency_key,
        {},
        lambda: service.new_version(session, principal=principal, framework_id=framework_id),
    )


@router.get(
    "/frameworks/{framework_id}/export",
    name="export",
    response_class=Response,
    responses=EXPORTED | problems(404),
)
async def export(
    framework_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, format: ExportFormat = "json"
) -> Response:
    """Download the framework as JSON, YAML or an Excel workbook (re-importable exactly)."""
    framework = await service.get_framework(session, principal=principal, framework_id=framework_id)
    data = await asyncio.to_thread(ENCODERS[format], await service.content_of(session, framework))
    filename = f"{framework.code}-v{framework.version}.{format}"
    return Response(
        data,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "ETag": etag(framework)},
    )
