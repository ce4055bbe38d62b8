"""API models of the use-of-results register and the usage report."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from pydantic import ConfigDict, Field

from services.feedback_svc.schemas_common import Date, Input, Output, ShortText
from shared.pagination import Page

DecisionKind = Literal[
    "commendation",
    "performance_bonus",
    "admonishment_talk",
    "accountability",
    "promotion_input",
    "training",
    "rotation",
]


class DecisionCreate(Input):
    """A decision about an object or official, citing the published result version it rests on."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "0195f0a0-0000-7000-8000-0000000000a1",
                    "result_version": 1,
                    "object_id": "0195f0a0-0000-7000-8000-0000000000b2",
                    "kind": "performance_bonus",
                    "summary": "Annual performance bonus for grade A.",
                    "amount": "12000.00",
                    "decided_on": "2027-03-01",
                }
            ]
        },
    )

    plan_id: uuid.UUID
    result_version: int = Field(ge=1, le=1_000_000)
    object_id: uuid.UUID
    kind: DecisionKind
    summary: ShortText
    amount: Decimal | None = Field(default=None, ge=0, le=10**9, decimal_places=2)
    decided_on: Date
    case_id: uuid.UUID | None = None


class DecisionRead(Output):
    id: uuid.UUID
    plan_id: uuid.UUID
    result_version: int
    cycle_id: uuid.UUID
    object_id: uuid.UUID
    object_kind: str
    object_name: str
    org_path: str
    grade: str
    kind: DecisionKind
    summary: str
    amount: Decimal | None
    decided_on: dt.date
    decided_by: str
    decided_as: str
    case_id: uuid.UUID | None
    created_at: dt.datetime


class DecisionPage(Page[DecisionRead]):
    pass


class GradeUsageRead(Output):
    grade: str
    published: int
    followed: int
    share: Decimal


class UsageReport(Output):
    """How often published results were actually used [2.6], by grade."""

    cycle_id: uuid.UUID
    org_path: str
    by_grade: list[GradeUsageRead]
    overall: GradeUsageRead
    decisions_by_kind: dict[str, int]
