"""REST routes of rectification tasks, evidence, extensions, verification and escalations."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from services.feedback_svc.access import OFFICE, READERS, check_role
from services.feedback_svc.api.common import created_once
from services.feedback_svc.case.schemas import CaseRead
from services.feedback_svc.task import service
from services.feedback_svc.task.logic import TaskStatus
from services.feedback_svc.task.schemas import (
    EscalationList,
    EvidenceStored,
    ExtensionCreate,
    ExtensionDecision,
    ExtensionList,
    ExtensionRead,
    ProgressCreate,
    ProgressList,
    ProgressRead,
    SweepResult,
    TaskPage,
    TaskRead,
    Verification,
)
from shared.api import IdempotencyKey, IfMatch, expected_version
from shared.auth.deps import CurrentPrincipal
from shared.auth.principal import OrgPath
from shared.errors import PayloadTooLarge, Unprocessable
from shared.evidence import EvidenceStore
from shared.openapi import problems
from shared.pagination import PageParams, page_params, parse_ids
from shared.service_app import DBSession

router = APIRouter(prefix="/api/v1", tags=["tasks"])

IdList = Annotated[str | None, Query(max_length=20_000)]
Sha256Path = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]
MAX_CASES_PER_BATCH = 100


def task_response(task: object, response: Response) -> TaskRead:
    read = TaskRead.model_validate(task)
    response.headers["ETag"] = f'"{read.lock_version}"'
    return read


def evidence_store(request: Request) -> EvidenceStore:
    store: EvidenceStore = request.app.state.evidence
    return store


@router.get("/tasks", response_model=TaskPage, name="list")
async def list_tasks(
    session: DBSession,
    principal: CurrentPrincipal,
    page: Annotated[PageParams, Depends(page_params)],
    case_ids: IdList = None,
    meeting_id: uuid.UUID | None = None,
    meeting_ids: IdList = None,
    status: TaskStatus | None = None,
    overdue: bool | None = None,
    owner_org_path: Annotated[OrgPath | None, Query()] = None,
    ids: IdList = None,
) -> TaskPage:
    """Tasks of your unit's cases and meetings and tasks it owns; ``ids``, ``case_ids``, ``meeting_ids`` batch."""
    filters = service.TaskFilters(
        case_ids=parse_ids(case_ids, field="case_ids", max_ids=MAX_CASES_PER_BATCH),
        meeting_ids=[meeting_id] if meeting_id is not None else parse_ids(meeting_ids, field="meeting_ids"),
        status=status,
        overdue=overdue,
        owner_org_path=owner_org_path,
        ids=parse_ids(ids),
    )
    items, next_cursor = await service.list_tasks(session, principal=principal, filters=filters, page=page)
    return TaskPage(items=[TaskRead.model_validate(t) for t in items], next_cursor=next_cursor)


@router.get("/tasks/{task_id}", response_model=TaskRead, name="get", responses=problems(404))
async def get_task(task_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal, response: Response) -> TaskRead:
    """One rectification task; the ETag guards progress and verification."""
    return task_response(await service.get_task(session, principal=principal, task_id=task_id), response)


@router.post(
    "/evidence",
    status_code=201,
    response_model=EvidenceStored,
    name="upload_evidence",
    # A raw body: the file itself, its media type in Content-Type.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_evidence(request: Request, principal: CurrentPrincipal) -> EvidenceStored:
    """Store a file (raw body: PDF, PNG, JPEG, xlsx, CSV or text); its sha256 is the name progress cites."""
    check_role(principal, READERS, "upload evidence")
    store = evidence_store(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > store.max_bytes:
        raise PayloadTooLarge(f"Evidence files are limited to {store.max_bytes} bytes.")
    data = await request.body()
    if not data:
        raise Unprocessable("The file is empty.", errors=[{"field": "body", "message": "empty"}])
    stored = await store.put(data, request.headers.get("content-type", ""))
    return EvidenceStored(sha256=stored.sha256, size=stored.size, media_type=stored.media_type)


@router.get(
    "/evidence/{sha256}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, **problems(404)},
    name="download_evidence",
)
async def download_evidence(request: Request, sha256: Sha256Path, principal: CurrentPrincipal) -> Response:
    """The stored file under its sha256 name (checked against its hash on the way out)."""
    check_role(principal, READERS, "read evidence")
    data = await evidence_store(request).read(sha256)
    return Response(data, media_type="application/octet-stream", headers={"ETag": f'"{sha256}"'})


async def missing_evidence(store: EvidenceStore, names: list[str]) -> list[str]:
    return await asyncio.to_thread(lambda: [n for n in names if not store.path_of(n).is_file()])


@router.post(
    "/tasks/{task_id}/progress",
    status_code=201,
    response_model=ProgressRead,
    name="add_progress",
    responses=problems(404, 409),
)
async def add_progress(
    request: Request,
    task_id: uuid.UUID,
    data: ProgressCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Report progress with evidence (owner unit); ``submit`` hands the task over for verification."""
    missing = await missing_evidence(evidence_store(request), [ref.sha256 for ref in data.evidence])

    async def create() -> dict[str, Any]:
        _, progress = await service.add_progress(
            session,
            principal=principal,
            task_id=task_id,
            data=data.model_copy(update={"version": expected_version(if_match, data.version)}),
            missing_evidence=missing,
        )
        return ProgressRead.model_validate(progress).model_dump(mode="json")

    return await created_once(
        request, session, principal, idempotency_key, data.model_dump(mode="json"), create, f"/api/v1/tasks/{task_id}"
    )


@router.get("/tasks/{task_id}/progress", response_model=ProgressList, name="list_progress", responses=problems(404))
async def list_progress(task_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> ProgressList:
    """Progress updates of one task, oldest first."""
    items = await service.progress_of(session, principal=principal, task_id=task_id)
    return ProgressList(items=[ProgressRead.model_validate(p) for p in items])


@router.post(
    "/tasks/{task_id}/extensions",
    status_code=201,
    response_model=ExtensionRead,
    name="request_extension",
    responses=problems(404, 409),
)
async def request_extension(
    request: Request,
    task_id: uuid.UUID,
    data: ExtensionCreate,
    session: DBSession,
    principal: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Ask the performance office for a later deadline (owner unit; one pending request at a time)."""

    async def create() -> dict[str, Any]:
        extension = await service.request_extension(session, principal=principal, task_id=task_id, data=data)
        return ExtensionRead.model_validate(extension).model_dump(mode="json")

    return await created_once(
        request, session, principal, idempotency_key, data.model_dump(mode="json"), create, f"/api/v1/tasks/{task_id}"
    )


@router.get(
    "/tasks/{task_id}/extensions", response_model=ExtensionList, name="list_extensions", responses=problems(404)
)
async def list_extensions(task_id: uuid.UUID, session: DBSession, principal: CurrentPrincipal) -> ExtensionList:
    """Extension requests of one task, oldest first."""
    items = await service.extensions_of(session, principal=principal, task_id=task_id)
    return ExtensionList(items=[ExtensionRead.model_validate(e) for e in items])


@router.post(
    "/extensions/{extension_id}/decision",
    response_model=ExtensionRead,
    name="decide_extension",
    responses=problems(404, 409),
)
async def decide_extension(
    extension_id: uuid.UUID, data: ExtensionDecision, session: DBSession, principal: CurrentPrincipal
) -> ExtensionRead:
    """Approve (the deadline moves) or reject an extension request (performance office)."""
    extension = await service.decide_extension(
        session, principal=principal, extension_id=extension_id, approve=data.approve, note=data.note
    )
    return ExtensionRead.model_validate(extension)


@router.post("/tasks/{task_id}/verification", response_model=TaskRead, name="verify", responses=problems(404, 409))
async def verify_task(
    task_id: uuid.UUID,
    data: Verification,
    session: DBSession,
    principal: CurrentPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> TaskRead:
    """Verify a submitted task, or send it back (someone outside the owner unit)."""
    task = await service.verify(
        session,
        principal=principal,
        task_id=task_id,
        approved=data.approved,
        note=data.note,
        expected=expected_version(if_match, data.version),
    )
    return task_response(task, response)


@router.get("/escalations", response_model=EscalationList, name="escalations")
async def escalation_worklist(
    session: DBSession, principal: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=500)] = 200
) -> EscalationList:
    """Supervision's worklist: escalated cases and overdue tasks in your scope, oldest first."""
    cases, tasks = await service.escalations(session, principal=principal, limit=limit)
    return EscalationList(
        cases=[CaseRead.model_validate(c) for c in cases], overdue_tasks=[TaskRead.model_validate(t) for t in tasks]
    )


@router.post("/sweeps/overdue", response_model=SweepResult, name="sweep_overdue")
async def sweep_overdue_now(session: DBSession, principal: CurrentPrincipal) -> SweepResult:
    """Run the overdue sweep now (it also runs periodically); idempotent."""
    check_role(principal, OFFICE, "run the overdue sweep")
    return SweepResult(marked_overdue=await service.sweep_overdue(session))
