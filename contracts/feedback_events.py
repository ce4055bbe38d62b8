"""Published contract for `feedback.case.closed` and `feedback.task.overdue` (producer feedback_svc,
consumers appraisal_svc (improvement bonus for the next cycle) and the gateway's notifications).

An improvement case is opened for an appraisal object whose published result fell short. It is
closed only after every rectification task was verified by someone outside the owner unit; the
closing event names the result it answered, so appraisal can credit the object in the next cycle.
A rectification task past its deadline is marked overdue once (the sweep is idempotent) and the
event tells supervision whom to chase.

This module depends on nothing but pydantic and the standard library.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

FEEDBACK_CASE_CLOSED = "feedback.case.closed"
FEEDBACK_TASK_OVERDUE = "feedback.task.overdue"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CaseClosed(_Model):
    """Payload of `feedback.case.closed`."""

    case_id: uuid.UUID
    plan_id: uuid.UUID
    cycle_id: uuid.UUID
    cycle_label: str = Field(min_length=1, max_length=64)
    result_version: int = Field(ge=1, description="The published result version the case answered.")
    object_id: uuid.UUID
    object_kind: str = Field(min_length=1, max_length=32)
    org_unit_id: uuid.UUID
    org_path: str = Field(min_length=1, max_length=512)
    reasons: list[str] = Field(default_factory=list, max_length=600, description="Why the case was opened.")
    tasks_total: int = Field(ge=0)
    tasks_verified: int = Field(ge=0)
    tasks_overdue: int = Field(ge=0, description="Tasks that passed their deadline at some point.")
    opened_at: dt.datetime
    closed_at: dt.datetime
    closed_by: str = Field(min_length=1, max_length=200)


class TaskOverdue(_Model):
    """Payload of `feedback.task.overdue`."""

    task_id: uuid.UUID
    case_id: uuid.UUID | None = Field(default=None, description="None for a joint meeting's resolution.")
    meeting_id: uuid.UUID | None = None
    title: str = Field(min_length=1, max_length=300)
    owner_unit_id: uuid.UUID
    owner_org_path: str = Field(min_length=1, max_length=512)
    deadline: dt.date
    overdue_since: dt.datetime
