"""REST route of the improvement record: closed cases recorded against an appraisal object."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from services.appraisal_svc.improvement import service
from services.appraisal_svc.improvement.schemas import ImprovementClosurePage, ImprovementClosureRead
from shared.auth.deps import CurrentPrincipal
from shared.openapi import problems
from shared.pagination import PageParams, page_params
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["improvements"])


@router.get(
    "/objects/{object_id}/improvements",
    name="list",
    response_model=ImprovementClosurePage,
    responses=problems(403, 404),
)
async def list_improvements(
    object_id: uuid.UUID,
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
) -> ImprovementClosurePage:
    """Improvement cases closed for the object (feedback.case.closed), to weigh in the cycles after."""
    items, cursor = await service.closures_of_object(session, principal=principal, object_id=object_id, page=page)
    return ImprovementClosurePage(items=[ImprovementClosureRead.model_validate(i) for i in items], next_cursor=cursor)
