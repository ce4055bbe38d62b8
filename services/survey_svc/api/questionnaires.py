"""REST routes of questionnaires: thin, parse -> service -> response model."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.survey_svc.db import TABLES
from services.survey_svc.questionnaire import service, xlsform
from services.survey_svc.questionnaire.content import Code, QuestionnaireContent
from services.survey_svc.questionnaire.models import Questionnaire, QuestionnaireStatus
from services.survey_svc.questionnaire.schemas import (
    QuestionnaireCreate,
    QuestionnairePage,
    QuestionnaireRead,
    QuestionnaireUpdate,
)
from shared import idempotency
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import OrgPath
from shared.errors import Unprocessable
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["questionnaires"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def questionnaire_response(found: Questionnaire, response: Response) -> QuestionnaireRead:
    response.headers["ETag"] = f'"{found.lock_version}"'
    return QuestionnaireRead.model_validate(found)


async def created_once(
    request: Request, session: DBSession, subject: str, key: str | None, body: Any, create: Any
) -> JSONResponse:
    async def created() -> dict[str, Any]:
        return QuestionnaireRead.model_validate(await create()).model_dump(mode="json")

    return await idempotency.create_once(
        session,
        TABLES,
        subject=subject,
        key=key,
        fingerprint=idempotency.request_fingerprint(request.method, request.url.path, body),
        create=created,
        location="/api/v1/questionnaires/{id}",
    )


@router.post("/questionnaires", status_code=201, response_model=QuestionnaireRead, name="create")
async def create_questionnaire(
    request: Request,
    data: QuestionnaireCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a draft questionnaire owned by an org unit in your scope."""
    return await created_once(
        request,
        session,
        principal.subject,
        idempotency_key,
        data.model_dump(mode="json"),
        lambda: service.create_questionnaire(session, principal=principal, data=data),
    )


@router.post("/questionnaires/import", status_code=201, response_model=QuestionnaireRead, name="import")
async def import_questionnaire(
    request: Request,
    session: DBSession,
    principal: CurrentPrincipal,
    code: Annotated[Code, Query()],
    org_unit_id: uuid.UUID,
    org_path: Annotated[OrgPath, Query()],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a draft from an XLSForm workbook (raw xlsx body); errors name sheet, row and column."""
    data = await request.body()
    try:
        # A worker thread: parsing a workbook must not stall every other request on this loop.
        content = await asyncio.to_thread(xlsform.from_xlsx, data)
    except xlsform.XlsFormError as exc:
        raise Unprocessable(
            f"The workbook has {len(exc.problems)} problem(s); nothing was imported.",
            errors=[
                {"field": f"{p.sheet}!{p.column or ''}{p.row or ''}", **p.model_dump(exclude_none=True)}
                for p in exc.problems
            ],
        ) from None
    create = QuestionnaireCreate(code=code, org_unit_id=org_unit_id, org_path=org_path, content=content)
    body = {"sha256": idempotency.request_fingerprint("import", "xlsx", data.hex()), **create.model_dump(mode="json")}
    return await created_once(
        request,
        session,
        principal.subject,
        idempotency_key,
        body,
        lambda: service.create_questionnaire(session, principal=principal, data=create),
    )


@router.get("/questionnaires", response_model=QuestionnairePage, name="list")
async def list_questionnaires(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    status: QuestionnaireStatus | None = None,
    ids: Annotated[str | None, Query(max_length=20_000)] = None,
) -> QuestionnairePage:
    """Questionnaires you may read (published ones and drafts in your scope); ``ids`` batch-reads."""
    items, next_cursor = await service.list_questionnaires(
        session, principal=principal, page=page, status=status, ids=parse_ids(ids)
    )
    return QuestionnairePage(items=[QuestionnaireRead.model_validate(q) for q in items], next_cursor=next_cursor)


@router.get("/questionnaires/{questionnaire_id}", response_model=QuestionnaireRead, name="get")
async def get_questionnaire(
    questionnaire_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> QuestionnaireRead:
    """Read one questionnaire version; its ETag is the version to send back in If-Match."""
    found = await service.get_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id)
    return questionnaire_response(found, response)


@router.patch("/questionnaires/{questionnaire_id}", response_model=QuestionnaireRead, name="update")
async def update_questionnaire(
    questionnaire_id: uuid.UUID,
    data: QuestionnaireUpdate,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> QuestionnaireRead:
    """Replace a draft's content."""
    found = await service.update_questionnaire(
        session,
        principal=principal,
        questionnaire_id=questionnaire_id,
        content=data.content,
        expected_version=expected_version(if_match, data.version),
    )
    return questionnaire_response(found, response)


@router.post("/questionnaires/{questionnaire_id}/publish", response_model=QuestionnaireRead, name="publish")
async def publish_questionnaire(
    questionnaire_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> QuestionnaireRead:
    """Freeze a draft: its content and content_hash never change again."""
    found = await service.publish_questionnaire(
        session, principal=principal, questionnaire_id=questionnaire_id, expected_version=expected_version(if_match)
    )
    return questionnaire_response(found, response)


@router.post(
    "/questionnaires/{questionnaire_id}/versions",
    status_code=201,
    response_model=QuestionnaireRead,
    name="create_version",
)
async def create_questionnaire_version(
    questionnaire_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> QuestionnaireRead:
    """Start the next version of a questionnaire as a draft with the same content."""
    found = await service.new_version(session, principal=principal, questionnaire_id=questionnaire_id)
    return questionnaire_response(found, response)


@router.get("/questionnaires/{questionnaire_id}/export", response_class=Response, name="export")
async def export_questionnaire(
    questionnaire_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal
) -> Response:
    """The questionnaire as an XLSForm workbook (re-importing it gives identical content)."""
    found = await service.get_questionnaire(session, principal=principal, questionnaire_id=questionnaire_id)
    data = await asyncio.to_thread(xlsform.to_xlsx, QuestionnaireContent.model_validate(found.content))
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{found.code}-v{found.version}.xlsx"'},
    )
