"""API models of expert assignments, sealed ratings and veto events."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from contracts.scoring import VetoCode  # the stable slug the plan's veto leaves list
from shared.auth.principal import OrgPath
from shared.pagination import Page

# One request assigns a whole panel; bounded so that the set-based checks stay one statement.
MAX_ASSIGNMENTS = 5_000
MAX_COMMENT = 2_000
IndicatorCode = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
SubjectCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
UserId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExpertAssignmentIn(_Input):
    expert: UserId = Field(description="The expert's user id (the subject of their token).")
    expert_org_path: OrgPath = Field(description="The expert's own unit; its subtree and ancestors are theirs.")
    object_id: uuid.UUID
    indicator_code: IndicatorCode = Field(description="A qualitative leaf of the plan scored by method `grade`.")
    subject: SubjectCode = Field(description="The evaluation subject the rating counts for (one of the leaf's).")


class ExpertAssignmentBatch(_Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "expert": "expert-li",
                            "expert_org_path": "/gd/gz",
                            "object_id": "0190f7a0-0000-7000-8000-000000000001",
                            "indicator_code": "Q1",
                            "subject": "experts",
                        }
                    ]
                }
            ]
        },
    )

    items: list[ExpertAssignmentIn] = Field(min_length=1, max_length=MAX_ASSIGNMENTS)


class ExpertAssignmentBatchResult(BaseModel):
    created: int
    ids: list[uuid.UUID] = Field(description="The new assignments' ids, in the order of the request's items.")


class ExpertAssignmentRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f7a0-0000-7000-8000-0000000000aa",
                    "plan_id": "0190f7a0-0000-7000-8000-0000000000bb",
                    "expert": "expert-li",
                    "expert_org_path": "/gd/gz",
                    "object_id": "0190f7a0-0000-7000-8000-000000000001",
                    "indicator_code": "Q1",
                    "subject": "experts",
                    "assigned_by": "office-sz",
                    "assigned_at": "2026-03-01T08:00:00Z",
                    "rated": False,
                }
            ]
        }
    )

    id: uuid.UUID
    plan_id: uuid.UUID
    expert: str
    expert_org_path: str
    object_id: uuid.UUID
    indicator_code: str
    subject: str
    assigned_by: str
    assigned_at: dt.datetime
    rated: bool = Field(description="Whether a rating was given; its grade stays sealed until the window closes.")


class ExpertAssignmentPage(Page[ExpertAssignmentRead]):
    pass


class ExpertRatingPut(_Input):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{"grade": "B", "comment": "Solid."}]}
    )

    grade: Annotated[str, Field(min_length=1, max_length=8, description="A grade of the leaf's scale (A-D or 1-5).")]
    comment: Annotated[str, Field(max_length=MAX_COMMENT)] | None = None


class ExpertRatingRead(BaseModel):
    """A rating; ``grade``, ``comment`` and ``seal_nonce`` are null to anyone but the author while sealed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "assignment_id": "0190f7a0-0000-7000-8000-0000000000aa",
                    "plan_id": "0190f7a0-0000-7000-8000-0000000000bb",
                    "object_id": "0190f7a0-0000-7000-8000-000000000001",
                    "indicator_code": "Q1",
                    "subject": "experts",
                    "expert": "expert-li",
                    "grade": "B",
                    "comment": "Solid.",
                    "rated_at": "2026-03-02T08:00:00Z",
                    "sealed": False,
                    "commitment": "0" * 64,
                    "seal_nonce": "f" * 32,
                }
            ]
        }
    )

    assignment_id: uuid.UUID
    plan_id: uuid.UUID
    object_id: uuid.UUID
    indicator_code: str
    subject: str
    expert: str
    grade: str | None
    comment: str | None
    rated_at: dt.datetime
    sealed: bool
    commitment: str | None = Field(description="sha256 of nonce, assignment id, grade and comment, as audit-logged.")
    seal_nonce: str | None = Field(description="The salt of the commitment; shown once the seal lifts.")


class ExpertRatingPage(Page[ExpertRatingRead]):
    pass


class VetoEventCreate(_Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "object_id": "0190f7a0-0000-7000-8000-000000000001",
                    "code": "major_safety_accident",
                    "occurred_on": "2026-05-04",
                    "description": "Bridge collapse with casualties, report 2026-17.",
                }
            ]
        },
    )

    object_id: uuid.UUID
    code: VetoCode
    occurred_on: dt.date | None = None
    description: Annotated[str, Field(min_length=1, max_length=4_000)]
    evidence_sha256: Sha256 | None = Field(default=None, description="An evidence file uploaded to /evidence first.")


class VetoWithdraw(_Input):
    reason: Annotated[str, Field(min_length=1, max_length=4_000)]


class VetoEventRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0190f7a0-0000-7000-8000-0000000000cc",
                    "plan_id": "0190f7a0-0000-7000-8000-0000000000bb",
                    "object_id": "0190f7a0-0000-7000-8000-000000000001",
                    "code": "major_safety_accident",
                    "occurred_on": "2026-05-04",
                    "description": "Bridge collapse with casualties, report 2026-17.",
                    "evidence_sha256": None,
                    "recorded_by": "supervision-sz",
                    "recorded_at": "2026-05-05T08:00:00Z",
                    "withdrawn_at": None,
                    "withdrawn_by": None,
                    "withdraw_reason": None,
                }
            ]
        },
    )

    id: uuid.UUID
    plan_id: uuid.UUID
    object_id: uuid.UUID
    code: str
    occurred_on: dt.date | None
    description: str
    evidence_sha256: str | None
    recorded_by: str
    recorded_at: dt.datetime
    withdrawn_at: dt.datetime | None
    withdrawn_by: str | None
    withdraw_reason: str | None


class VetoEventPage(Page[VetoEventRead]):
    pass
