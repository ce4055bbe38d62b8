"""Public, unauthenticated routes: published plans, their league tables, explain trees, downloads
and rulings. A plan that is not published does not exist here (404). Every answer is cacheable:
a strong ETag from the published version (a run never changes) and what selects the answer."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy.ext.asyncio import AsyncSession

from services.appraisal_svc.numbers import plain
from services.appraisal_svc.publication import logic, reads, service
from services.appraisal_svc.publication.schemas import (
    LeaguePage,
    LeagueRow,
    ObjectResultPage,
    PublicPlanPage,
    PublicPlanRead,
    PublicResultExplain,
    PublicRulingPage,
)
from shared.openapi import problems
from shared.pagination import PageParams, page_params
from shared.reads import DBReader
from shared.service_app import DBSession

router = APIRouter(prefix="/public/plans", tags=["public"])

CACHE_CONTROL = "public, max-age=60"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PeerGroup = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (If-None-Match matched)."}}
CSV_COLUMNS = (
    "peer_group",
    "rank",
    "peer_count",
    "object_id",
    "name",
    "object_kind",
    "org_path",
    "composite",
    "grade",
    "vetoed",
    "bonus",
    "deduction",
)


def _cache_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": CACHE_CONTROL}


def _not_modified(request: Request, response: Response, etag: str) -> Response | None:
    """Set the validators; a 304 answer when the client already holds this representation."""
    response.headers.update(_cache_headers(etag))
    if logic.etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=_cache_headers(etag))
    return None


def _page_key(page: PageParams) -> str:
    return f"{page.limit}:{page.cursor or ''}"


@router.get("", response_model=PublicPlanPage, name="list", responses=NOT_MODIFIED)
async def list_published_plans(
    request: Request, response: Response, reader: DBReader, page: Annotated[PageParams, Depends(page_params)]
) -> Any:
    """Published plans, with their published result version."""
    items, cursor = await reads.list_published(reader, page=page)
    etag = logic.public_etag("plans", _page_key(page), *(f"{i.id}:{i.result_version}" for i in items))
    return _not_modified(request, response, etag) or PublicPlanPage(items=items, next_cursor=cursor)


@router.get("/{plan_id}", response_model=PublicPlanRead, name="get", responses=problems(404) | NOT_MODIFIED)
async def get_published_plan(plan_id: uuid.UUID, request: Request, response: Response, session: DBSession) -> Any:
    """One published plan: framework, cycle, grade scheme, published version and its rulings."""
    published = await service.published_plan(session, plan_id)
    return _not_modified(request, response, logic.public_etag(published.run.id, "plan")) or (
        await service.public_plan(session, published)
    )


@router.get("/{plan_id}/results", response_model=LeaguePage, name="results", responses=problems(404) | NOT_MODIFIED)
async def get_league_table(
    plan_id: uuid.UUID,
    request: Request,
    response: Response,
    reader: DBReader,
    page: Annotated[PageParams, Depends(page_params)],
    peer_group: PeerGroup = None,
) -> Any:
    """The league table: per peer group, by competition rank."""
    published = await reads.published_version(reader, plan_id)
    etag = logic.public_etag(published.run_id, "results", _page_key(page), peer_group or "")
    cached = _not_modified(request, response, etag)
    if cached is not None:
        return cached
    items, next_cursor = await reads.league_table(reader, published, peer_group=peer_group, page=page)
    return LeaguePage(items=items, next_cursor=next_cursor)


def _table_rows(rows: list[LeagueRow], subjects: list[str]) -> Iterator[list[Any]]:
    yield [*CSV_COLUMNS, *(f"score_{s}" for s in subjects)]
    for row in rows:
        scores = {s.subject: s.score for s in row.subject_scores}
        yield [
            row.peer_group,
            row.rank,
            row.peer_count,
            str(row.object_id),
            logic.spreadsheet_safe(row.name),
            row.object_kind,
            logic.spreadsheet_safe(row.org_path),
            plain(row.composite),
            row.grade,
            "yes" if row.vetoed else "no",
            plain(row.bonus),
            plain(row.deduction),
            *("" if (score := scores.get(s)) is None else plain(score) for s in subjects),
        ]


async def _download_rows(session: AsyncSession, published: service.Published) -> list[LeagueRow]:
    # A plan holds at most MAX_PLAN_OBJECTS objects, so the whole table is bounded.
    rows, _ = await service.league_table(session, published, peer_group=None, page=None)
    return rows


def csv_chunks(rows: list[LeagueRow], subjects: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for i, line in enumerate(_table_rows(rows, subjects)):
        writer.writerow(line)
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _subjects(published: service.Published) -> list[str]:
    return sorted(published.plan.subject_weights)


def _filename(published: service.Published, extension: str) -> str:
    return f'attachment; filename="results-{published.plan.id}-v{published.run.version}.{extension}"'


@router.get(
    "/{plan_id}/results.csv",
    response_class=StreamingResponse,
    name="results_csv",
    responses=problems(404) | NOT_MODIFIED | {200: {"content": {"text/csv": {}}}},
)
async def download_results_csv(plan_id: uuid.UUID, request: Request, response: Response, session: DBSession) -> Any:
    """The whole league table as CSV."""
    published = await service.published_plan(session, plan_id)
    etag = logic.public_etag(published.run.id, "csv")
    cached = _not_modified(request, response, etag)
    if cached is not None:
        return cached
    rows = await _download_rows(session, published)
    return StreamingResponse(
        csv_chunks(rows, _subjects(published)),
        media_type="text/csv; charset=utf-8",
        headers=_cache_headers(etag) | {"Content-Disposition": _filename(published, "csv")},
    )


def xlsx_workbook(rows: list[LeagueRow], subjects: list[str]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    for line in _table_rows(rows, subjects):
        cells = []
        for value in line:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@router.get(
    "/{plan_id}/results.xlsx",
    response_class=Response,
    name="results_xlsx",
    responses=problems(404) | NOT_MODIFIED | {200: {"content": {XLSX: {}}}},
)
async def download_results_xlsx(plan_id: uuid.UUID, request: Request, response: Response, session: DBSession) -> Any:
    """The whole league table as an Excel workbook."""
    published = await service.published_plan(session, plan_id)
    etag = logic.public_etag(published.run.id, "xlsx")
    cached = _not_modified(request, response, etag)
    if cached is not None:
        return cached
    rows = await _download_rows(session, published)
    data = await asyncio.to_thread(xlsx_workbook, rows, _subjects(published))
    return Response(
        data, media_type=XLSX, headers=_cache_headers(etag) | {"Content-Disposition": _filename(published, "xlsx")}
    )


@router.get(
    "/{plan_id}/results/{object_id}",
    response_model=PublicResultExplain,
    name="explain",
    responses=problems(404) | NOT_MODIFIED,
)
async def get_public_explain(
    plan_id: uuid.UUID, object_id: uuid.UUID, request: Request, response: Response, session: DBSession
) -> Any:
    """One object's published result, every number down to the raw value, without internal notes."""
    published = await service.published_plan(session, plan_id)
    cached = _not_modified(request, response, logic.public_etag(published.run.id, "explain", object_id))
    return cached or await service.public_explain(session, published, object_id)


@router.get(
    "/{plan_id}/objections",
    response_model=PublicRulingPage,
    name="rulings",
    responses=problems(404) | NOT_MODIFIED,
)
async def list_public_rulings(
    plan_id: uuid.UUID,
    request: Request,
    response: Response,
    session: DBSession,
    page: Annotated[PageParams, Depends(page_params)],
) -> Any:
    """The rulings on the plan's objections, without who filed them."""
    published = await service.published_plan(session, plan_id)
    cached = _not_modified(request, response, logic.public_etag(published.run.id, "rulings", _page_key(page)))
    if cached is not None:
        return cached
    items, cursor = await service.public_rulings(session, published, page=page)
    return PublicRulingPage(items=items, next_cursor=cursor)


@router.get(
    "/{plan_id}/versions/{version}/objects",
    response_model=ObjectResultPage,
    name="published_objects",
    responses=problems(404) | NOT_MODIFIED,
)
async def list_published_objects(
    plan_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    request: Request,
    response: Response,
    session: DBSession,
    page: Annotated[PageParams, Depends(page_params)],
) -> Any:
    """The objects of the published results event, paged (for plans published by reference)."""
    published = await service.published_plan(session, plan_id)
    etag = logic.public_etag(published.run.id, "objects", version, _page_key(page))
    cached = _not_modified(request, response, etag)
    if cached is not None:
        return cached
    items, cursor = await service.published_objects(session, published, version=version, page=page)
    return ObjectResultPage(items=items, next_cursor=cursor)
