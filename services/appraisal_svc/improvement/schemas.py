"""Closed improvement cases as appraisal shows them."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict

from shared.pagination import Page


class ImprovementClosureRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: uuid.UUID
    object_id: uuid.UUID
    plan_id: uuid.UUID
    cycle_id: uuid.UUID
    cycle_label: str
    result_version: int
    reasons: list[str]
    tasks_total: int
    tasks_verified: int
    tasks_overdue: int
    opened_at: dt.datetime
    closed_at: dt.datetime
    closed_by: str
    recorded_at: dt.datetime


ImprovementClosurePage = Page[ImprovementClosureRead]
