"""Rectification task use cases, the overdue sweep and supervision's worklist.
They take a session and flush; the caller commits."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback_svc.access import ANSWERERS, ESCALATORS, OFFICE, READERS, VERIFIERS, check_role, in_subtree
from services.feedback_svc.case import service as cases
from services.feedback_svc.case.logic import ACTIVE, CaseStatus
from services.feedback_svc.case.models import ImprovementCase
from services.feedback_svc.db import TABLES
from services.feedback_svc.task import logic
from services.feedback_svc.task.events import FEEDBACK_TASK_OVERDUE, TaskOverdue
from services.feedback_svc.task.logic import TaskStatus
from services.feedback_svc.task.models import Task, TaskExtension, TaskProgress
from services.feedback_svc.task.schemas import ExtensionCreate, ProgressCreate
from shared.api import check_version
from shared.auth.principal import Principal, Role
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import make_event
from shared.messaging import outbox
from shared.pagination import PageParams, paginate

SOURCE = "govperf/feedback"
OVERDUE_REASON = "A rectification task passed its deadline."


def readable(principal: Principal) -> Any:
    """A task is seen by readers of its case's (or meeting's) unit and by its owner unit."""
    if not principal.has_any(READERS):
        return Task.id.is_(None)
    return or_(in_subtree(Task.scope_org_path, principal.org_path), in_subtree(Task.owner_org_path, principal.org_path))


def can_read(principal: Principal, task: Task) -> bool:
    return principal.has_any(READERS) and (
        principal.in_scope(task.scope_org_path) or principal.in_scope(task.owner_org_path)
    )


async def get_task(
    session: AsyncSession, *, principal: Principal, task_id: uuid.UUID, for_update: bool = False
) -> Task:
    stmt = select(Task).where(Task.id == task_id)
    if for_update:
        stmt = stmt.with_for_update()
    task = await session.scalar(stmt)
    if task is None or not can_read(principal, task):
        raise NotFound("No such task.")
    return task


@dataclass(frozen=True)
class TaskFilters:
    case_ids: list[uuid.UUID] | None = None
    meeting_ids: list[uuid.UUID] | None = None
    status: TaskStatus | None = None
    overdue: bool | None = None
    owner_org_path: str | None = None
    ids: list[uuid.UUID] | None = None


async def list_tasks(
    session: AsyncSession, *, principal: Principal, filters: TaskFilters, page: PageParams
) -> tuple[list[Task], str | None]:
    stmt: Select[Any] = select(Task).where(readable(principal))
    if filters.case_ids is not None:
        stmt = stmt.where(Task.case_id.in_(filters.case_ids))
    if filters.meeting_ids is not None:
        stmt = stmt.where(Task.meeting_id.in_(filters.meeting_ids))
    if filters.status is not None:
        stmt = stmt.where(Task.status == filters.status.value)
    if filters.overdue is not None:
        stmt = stmt.where(Task.overdue_at.is_not(None) if filters.overdue else Task.overdue_at.is_(None))
    if filters.owner_org_path is not None:
        stmt = stmt.where(in_subtree(Task.owner_org_path, filters.owner_org_path))
    if filters.ids is not None:
        stmt = stmt.where(Task.id.in_(filters.ids))
    return await paginate(session, stmt, Task.id, page)


def check_owner(principal: Principal, task: Task, action: str) -> None:
    check_role(principal, ANSWERERS, action)
    if not principal.in_scope(task.owner_org_path):
        raise Forbidden(f"Only the owner unit may {action}.")


def check_version_if_given(task: Task, expected: int | None) -> None:
    """Progress is a new record on the task: If-Match is optional there, but a stale one is refused."""
    if expected is not None:
        check_version(task.lock_version, expected)


async def add_progress(
    session: AsyncSession,
    *,
    principal: Principal,
    task_id: uuid.UUID,
    data: ProgressCreate,
    missing_evidence: list[str],
) -> tuple[Task, TaskProgress]:
    task = await get_task(session, principal=principal, task_id=task_id, for_update=True)
    check_owner(principal, task, "report progress on this task")
    check_version_if_given(task, data.version)
    if missing_evidence:
        raise Unprocessable(
            "Upload evidence before citing it.",
            errors=[
                {"field": f"evidence.{i}.sha256", "message": "no evidence stored under this hash"}
                for i, ref in enumerate(data.evidence)
                if ref.sha256 in missing_evidence
            ],
        )
    try:
        task.status = logic.status_after_progress(TaskStatus(task.status), submit=data.submit).value
    except ValueError as exc:
        raise Conflict(f"This task is {task.status}; {exc}.") from None
    task.percent_done = 100 if data.submit else data.percent_done
    task.lock_version += 1
    progress = TaskProgress(
        task_id=task.id,
        note=data.note,
        percent_done=task.percent_done,
        evidence=[ref.model_dump() for ref in data.evidence],
        author=principal.subject,
    )
    session.add(progress)
    await session.flush()
    if task.case_id is not None:
        await cases.advance_after_task_change(session, task.case_id)
    return task, progress


async def progress_of(session: AsyncSession, *, principal: Principal, task_id: uuid.UUID) -> list[TaskProgress]:
    task = await get_task(session, principal=principal, task_id=task_id)
    rows = await session.scalars(select(TaskProgress).where(TaskProgress.task_id == task.id).order_by(TaskProgress.id))
    return list(rows.all())


async def request_extension(
    session: AsyncSession, *, principal: Principal, task_id: uuid.UUID, data: ExtensionCreate
) -> TaskExtension:
    task = await get_task(session, principal=principal, task_id=task_id, for_update=True)
    check_owner(principal, task, "request an extension of this task")
    if task.status == TaskStatus.verified:
        raise Conflict("A verified task needs no extension.")
    if data.requested_deadline <= task.deadline:
        raise Unprocessable(
            "An extension moves the deadline later.",
            errors=[{"field": "requested_deadline", "message": f"must be after {task.deadline.isoformat()}"}],
        )
    extension = TaskExtension(
        task_id=task.id, requested_deadline=data.requested_deadline, reason=data.reason, requested_by=principal.subject
    )
    session.add(extension)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("An extension request for this task is already waiting for a decision.") from None
    return extension


async def decide_extension(
    session: AsyncSession, *, principal: Principal, extension_id: uuid.UUID, approve: bool, note: str | None
) -> TaskExtension:
    extension = await session.scalar(select(TaskExtension).where(TaskExtension.id == extension_id).with_for_update())
    if extension is None:
        raise NotFound("No such extension request.")
    task = await get_task(session, principal=principal, task_id=extension.task_id, for_update=True)
    check_role(principal, OFFICE, "decide extension requests")
    if not principal.in_scope(task.scope_org_path):
        raise Forbidden("The task's unit is outside your scope.")
    if extension.status != "pending":
        raise Conflict(f"This request was already {extension.status}.")
    extension.status = "approved" if approve else "rejected"
    extension.decided_by, extension.decided_at, extension.decision_note = principal.subject, utcnow(), note
    if approve:
        task.deadline = extension.requested_deadline
        # A new deadline clears the overdue mark; the sweep marks it again if this one passes too.
        task.overdue_at = None
        task.lock_version += 1
    await session.flush()
    return extension


async def extensions_of(session: AsyncSession, *, principal: Principal, task_id: uuid.UUID) -> list[TaskExtension]:
    task = await get_task(session, principal=principal, task_id=task_id)
    rows = await session.scalars(
        select(TaskExtension).where(TaskExtension.task_id == task.id).order_by(TaskExtension.id)
    )
    return list(rows.all())


async def verify(
    session: AsyncSession,
    *,
    principal: Principal,
    task_id: uuid.UUID,
    approved: bool,
    note: str,
    expected: int | None,
) -> Task:
    task = await get_task(session, principal=principal, task_id=task_id, for_update=True)
    check_role(principal, VERIFIERS, "verify rectification tasks")
    if not logic.verifier_is_outsider(principal.org_path, task.owner_org_path):
        raise Forbidden("A task is verified by someone outside its owner unit.")
    if not principal.in_scope(task.scope_org_path) and not principal.in_scope(task.owner_org_path):
        raise NotFound("No such task.")
    check_version(task.lock_version, expected)
    try:
        task.status = logic.status_after_verification(TaskStatus(task.status), approved=approved).value
    except ValueError as exc:
        raise Conflict(str(exc).capitalize() + ".") from None
    task.verification_note = note
    if approved:
        task.verified_by, task.verified_at, task.overdue_at = principal.subject, utcnow(), None
    task.lock_version += 1
    await session.flush()
    if task.case_id is not None:
        await cases.advance_after_task_change(session, task.case_id)
    return task


# --- overdue sweep -----------------------------------------------------------------------


async def sweep_overdue(session: AsyncSession, *, today: dt.date | None = None) -> int:
    """Mark every unfinished task past its deadline overdue, once, and escalate its case.

    Safe with several replicas at once: the UPDATE re-checks ``overdue_at IS NULL`` under each row's
    lock, so a task is marked (and its event written) by exactly one sweep."""
    now = utcnow()
    today = today or now.date()
    marked = (
        await session.execute(
            update(Task)
            .where(
                Task.overdue_at.is_(None),
                Task.deadline < today,
                Task.status.in_([TaskStatus.open.value, TaskStatus.in_progress.value]),
            )
            .values(overdue_at=now, ever_overdue=True, updated_at=now, lock_version=Task.lock_version + 1)
            .returning(
                Task.id,
                Task.case_id,
                Task.meeting_id,
                Task.title,
                Task.owner_unit_id,
                Task.owner_org_path,
                Task.deadline,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    for row in marked:
        payload = TaskOverdue(
            task_id=row.id,
            case_id=row.case_id,
            meeting_id=row.meeting_id,
            title=row.title,
            owner_unit_id=row.owner_unit_id,
            owner_org_path=row.owner_org_path,
            deadline=row.deadline,
            overdue_since=now,
        )
        await outbox.add(
            session, TABLES, make_event(FEEDBACK_TASK_OVERDUE, payload, source=SOURCE, subject=str(row.id))
        )
    case_ids = {row.case_id for row in marked if row.case_id is not None}
    if case_ids:
        await session.execute(
            update(ImprovementCase)
            .where(ImprovementCase.id.in_(case_ids), ImprovementCase.status.in_([s.value for s in ACTIVE]))
            .values(
                escalated_from=ImprovementCase.status,
                status=CaseStatus.escalated.value,
                escalated_at=now,
                escalation_reason=OVERDUE_REASON,
                updated_at=now,
                lock_version=ImprovementCase.lock_version + 1,
            )
            .execution_options(synchronize_session=False)
        )
    return len(marked)


async def escalations(
    session: AsyncSession, *, principal: Principal, limit: int
) -> tuple[list[ImprovementCase], list[Task]]:
    if not principal.has_any(ESCALATORS | {Role.perf_office}):
        raise Forbidden("Only supervision, the performance office or an admin see the escalation worklist.")
    escalated = await session.scalars(
        select(ImprovementCase)
        .where(
            ImprovementCase.status == CaseStatus.escalated.value,
            in_subtree(ImprovementCase.org_path, principal.org_path),
        )
        .order_by(ImprovementCase.escalated_at, ImprovementCase.id)
        .limit(limit)
    )
    overdue = await session.scalars(
        select(Task)
        .where(Task.overdue_at.is_not(None), Task.status != TaskStatus.verified.value, readable(principal))
        .order_by(Task.deadline, Task.id)
        .limit(limit)
    )
    return list(escalated.all()), list(overdue.all())
