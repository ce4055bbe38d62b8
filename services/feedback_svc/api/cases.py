"""REST routes of improvement cases, their policy and counseling sessions."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from services.feedback_svc.api.common import created_once, with_etag
from services.feedback_svc.case import service
from services.feedback_svc.case.logic import CaseAction, CaseStatus
from services.feedback_svc.case.models import CounselingSession
from services.feedback_svc.case.schemas import (
    Acknowledgement,
    CasePage,
    CasePolicyRead,
    CasePolicyWrite,
    CaseRead,
    CaseTransition,
    ObjectResultList,
    ObjectResultRead,
    SessionCreate,
    SessionList,
    SessionRead,
)
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import OrgPath
from shared.openapi import problems
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["cases"])

IdList = Annotated[str | None, Query(max_length=20_000)]
MAX_CASES_PER_BATCH = 100


def session_read(record: CounselingSession, task_ids: list[uuid.UUID]) -> SessionRead:
    return SessionRead.model_validate(record).model_copy(update={"task_ids": task_ids})


@router.put("/plans/{plan_id}/case-policy", response_model=CasePolicyRead, name="put_policy", responses=problems(409))
async def put_case_policy(
    plan_id: uuid.UUID,
    data: CasePolicyWrite,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> CasePolicyRead:
    """Set what opens improvement cases for a plan (attainment and satisfaction floors, grade cutoff)."""
    policy = await service.put_policy(
        session, principal=principal, plan_id=plan_id, data=data, expected=expected_version(if_match, data.version)
    )
    with_etag(response, policy.lock_version)
    return CasePolicyRead.model_validate(policy)


@router.get("/plans/{plan_id}/case-policy", response_model=CasePolicyRead, name="get_policy", responses=problems(404))
async def get_case_policy(
    plan_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response
) -> CasePolicyRead:
    """The case policy of a plan (404 when the defaults apply)."""
    policy = await service.get_policy(session, principal=principal, plan_id=plan_id)
    with_etag(response, policy.lock_version)
    return CasePolicyRead.model_validate(policy)


@router.get("/cases", response_model=CasePage, name="list")
async def list_cases(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    status: CaseStatus | None = None,
    plan_id: uuid.UUID | None = None,
    cycle_id: uuid.UUID | None = None,
    object_id: uuid.UUID | None = None,
    org_path: Annotated[OrgPath | None, Query()] = None,
    ids: IdList = None,
) -> CasePage:
    """Improvement cases in your scope, by id order; ``ids`` batch-reads."""
    filters = service.CaseFilters(
        status=status, plan_id=plan_id, cycle_id=cycle_id, object_id=object_id, org_path=org_path, ids=parse_ids(ids)
    )
    items, next_cursor = await service.list_cases(session, principal=principal, filters=filters, page=page)
    return CasePage(items=[CaseRead.model_validate(c) for c in items], next_cursor=next_cursor)


@router.get("/cases/{case_id}", response_model=CaseRead, name="get", responses=problems(404))
async def get_case(case_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response) -> CaseRead:
    """One case with its recommendations; the ETag guards transitions."""
    case = await service.get_case(session, principal=principal, case_id=case_id)
    with_etag(response, case.lock_version)
    return CaseRead.model_validate(case)


@router.post("/cases/{case_id}/transitions", response_model=CaseRead, name="transition", responses=problems(404, 409))
async def transition_case(
    case_id: uuid.UUID,
    data: CaseTransition,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> CaseRead:
    """Start, verify, close, reopen, escalate or resolve an escalation (409 when the state forbids it)."""
    case = await service.transition(
        session,
        principal=principal,
        case_id=case_id,
        action=CaseAction(data.action),
        reason=data.reason,
        expected=expected_version(if_match, data.version),
    )
    with_etag(response, case.lock_version)
    return CaseRead.model_validate(case)


@router.get("/results", response_model=ObjectResultList, name="results")
async def results_of_cases(
    session: DBSession, principal: CurrentPrincipal, case_ids: IdList = None
) -> ObjectResultList:
    """The published results the given cases rest on (for DataLoaders)."""
    ids = parse_ids(case_ids, field="case_ids", max_ids=MAX_CASES_PER_BATCH) or []
    found = await service.results_of_cases(session, principal=principal, case_ids=ids)
    return ObjectResultList(
        items=[ObjectResultRead.model_validate(r).model_copy(update={"case_id": case_id}) for case_id, r in found]
    )


@router.post(
    "/cases/{case_id}/sessions",
    status_code=201,
    response_model=SessionRead,
    name="record_session",
    responses=problems(404, 409),
)
async def record_session(
    request: Request,
    case_id: uuid.UUID,
    data: SessionCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Record a counseling session; its agreed actions become rectification tasks."""

    async def create() -> dict[str, Any]:
        record, tasks = await service.record_session(session, principal=principal, case_id=case_id, data=data)
        return session_read(record, [t.id for t in tasks]).model_dump(mode="json")

    return await created_once(
        request,
        session,
        principal,
        idempotency_key,
        data.model_dump(mode="json"),
        create,
        "/api/v1/cases/" + str(case_id) + "/sessions",
    )


@router.get("/cases/{case_id}/sessions", response_model=SessionList, name="list_sessions", responses=problems(404))
async def list_case_sessions(case_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> SessionList:
    """Counseling sessions of one case, oldest first."""
    case = await service.get_case(session, principal=principal, case_id=case_id)
    return await _sessions(session, principal, [case.id])


@router.get("/sessions", response_model=SessionList, name="batch_sessions")
async def batch_sessions(session: DBSession, principal: CurrentPrincipal, case_ids: IdList = None) -> SessionList:
    """Sessions of many cases at once (for DataLoaders); cases out of scope are left out."""
    return await _sessions(session, principal, parse_ids(case_ids, field="case_ids", max_ids=MAX_CASES_PER_BATCH) or [])


async def _sessions(session: DBSession, principal: Any, case_ids: list[uuid.UUID]) -> SessionList:
    records = await service.sessions_of(session, principal=principal, case_ids=case_ids)
    tasks = await service.task_ids_of_sessions(session, [r.id for r in records])
    return SessionList(items=[session_read(r, tasks.get(r.id, [])) for r in records])


@router.post(
    "/sessions/{session_id}/acknowledgement",
    response_model=SessionRead,
    name="acknowledge_session",
    responses=problems(404, 409),
)
async def acknowledge_session(
    session_id: uuid.UUID, data: Acknowledgement, session: DBSession, principal: CurrentPrincipal
) -> SessionRead:
    """The appraised unit acknowledges the findings and agreed actions (agrees the plan)."""
    record = await service.acknowledge(session, principal=principal, session_id=session_id, comment=data.comment)
    tasks = await service.task_ids_of_sessions(session, [record.id])
    return session_read(record, tasks.get(record.id, []))
