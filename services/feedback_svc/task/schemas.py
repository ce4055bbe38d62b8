"""API models of rectification tasks, progress, extensions and verification."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import Field

from services.feedback_svc.case.schemas import CaseRead
from services.feedback_svc.schemas_common import Date, Input, Output, ShortText, Text
from services.feedback_svc.task.logic import TaskStatus
from shared.pagination import Page

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class EvidenceRef(Input):
    sha256: Sha256
    name: Annotated[str, Field(min_length=1, max_length=200)]


class ProgressCreate(Input):
    note: Text
    percent_done: int = Field(ge=0, le=100)
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=20)
    submit: bool = Field(default=False, description="Hand the task over for verification.")
    version: int | None = Field(default=None, ge=1)


class ProgressRead(Output):
    id: uuid.UUID
    task_id: uuid.UUID
    note: str
    percent_done: int
    evidence: list[dict[str, Any]]
    author: str
    created_at: dt.datetime


class ProgressList(Output):
    items: list[ProgressRead]


class ExtensionCreate(Input):
    requested_deadline: Date
    reason: ShortText


class ExtensionDecision(Input):
    approve: bool
    note: ShortText | None = None


class ExtensionRead(Output):
    id: uuid.UUID
    task_id: uuid.UUID
    requested_deadline: dt.date
    reason: str
    status: str
    requested_by: str
    decided_by: str | None
    decided_at: dt.datetime | None
    decision_note: str | None
    created_at: dt.datetime


class ExtensionList(Output):
    items: list[ExtensionRead]


class Verification(Input):
    approved: bool
    note: ShortText
    version: int | None = Field(default=None, ge=1)


class TaskRead(Output):
    id: uuid.UUID
    case_id: uuid.UUID | None
    session_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    title: str
    description: str | None
    owner_unit_id: uuid.UUID
    owner_org_path: str
    deadline: dt.date
    status: TaskStatus
    percent_done: int
    overdue_at: dt.datetime | None
    ever_overdue: bool
    verified_by: str | None
    verified_at: dt.datetime | None
    verification_note: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    lock_version: int


class TaskPage(Page[TaskRead]):
    pass


class EvidenceStored(Output):
    sha256: str
    size: int
    media_type: str


class SweepResult(Output):
    marked_overdue: int


class EscalationList(Output):
    """Supervision's worklist: escalated cases and overdue tasks in scope."""

    cases: list[CaseRead]
    overdue_tasks: list[TaskRead]
