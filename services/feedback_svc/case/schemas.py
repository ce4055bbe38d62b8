"""API models of improvement cases, their policy and counseling sessions."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from services.feedback_svc.case.logic import CaseStatus
from services.feedback_svc.schemas_common import Date, Input, Name, Output, ShortText, Text, Title
from shared.auth.principal import OrgPath
from shared.pagination import Page


class CasePolicyWrite(Input):
    """What opens a case for a plan. ``org_path`` is the plan owner's unit (your scope must hold it)."""

    org_path: OrgPath
    min_attainment: Decimal = Field(default=Decimal("0.6"), ge=0, le=1, decimal_places=6)
    min_satisfaction: Decimal = Field(default=Decimal("70"), ge=0, le=100, decimal_places=6)
    grade_cutoff: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    version: int | None = Field(default=None, ge=1)


class CasePolicyRead(Output):
    plan_id: uuid.UUID
    org_path: str
    min_attainment: Decimal
    min_satisfaction: Decimal
    grade_cutoff: str | None
    updated_by: str
    updated_at: dt.datetime
    lock_version: int


class RecommendationRead(Output):
    kind: Literal["indicator", "veto", "grade"]
    text: str
    indicator_code: str | None = None
    indicator_name: str | None = None
    value: Decimal | None = None
    target: Decimal | None = None
    gap: Decimal | None = None
    attainment: Decimal | None = None
    peer_best: Decimal | None = None
    peer_median: Decimal | None = None
    peer_count: int = 0
    previous_value: Decimal | None = None
    trend: Literal["improved", "declined", "unchanged", "no_previous"] | None = None


class CaseRead(Output):
    id: uuid.UUID
    plan_id: uuid.UUID
    plan_name: str
    cycle_id: uuid.UUID
    cycle_label: str
    result_version: int
    object_id: uuid.UUID
    object_kind: str
    object_name: str
    org_unit_id: uuid.UUID
    org_path: str
    grade: str
    composite: Decimal
    rank: int
    peer_count: int
    status: CaseStatus
    reasons: list[str]
    recommendations: list[RecommendationRead]
    escalation_reason: str | None
    escalated_at: dt.datetime | None
    closed_at: dt.datetime | None
    closed_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lock_version: int


class CasePage(Page[CaseRead]):
    pass


class CaseTransition(Input):
    """A state change done by hand; counseling and acknowledgement move a case on their own."""

    action: Literal["start", "verify", "close", "reopen", "escalate", "resolve_escalation"]
    reason: ShortText | None = None
    version: int | None = Field(default=None, ge=1)


class AgreedAction(Input):
    """An action agreed in counseling; it becomes a rectification task of the owner unit."""

    title: Title
    description: Text | None = None
    owner_unit_id: uuid.UUID
    owner_org_path: OrgPath
    deadline: Date


class SessionCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "held_on": "2027-02-10",
                    "participants": ["city performance office", "Futian district government"],
                    "findings": "GDP growth 3% against a target of 6%; service-hall satisfaction 62.",
                    "agreed_actions": [
                        {
                            "title": "Publish an investment plan for the two industrial parks",
                            "owner_unit_id": "0195f0a0-0000-7000-8000-000000000002",
                            "owner_org_path": "/gd/sz/ft",
                            "deadline": "2027-06-30",
                        }
                    ],
                }
            ]
        },
    )

    held_on: Date
    participants: list[Name] = Field(min_length=1, max_length=50)
    findings: Text
    agreed_actions: list[AgreedAction] = Field(default_factory=list, max_length=50)


class SessionRead(Output):
    id: uuid.UUID
    case_id: uuid.UUID
    held_on: dt.date
    participants: list[str]
    findings: str
    agreed_actions: list[dict[str, Any]]
    recorded_by: str
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    acknowledgement: str | None
    created_at: dt.datetime
    task_ids: list[uuid.UUID] = []


class SessionList(Output):
    items: list[SessionRead]


class Acknowledgement(Input):
    """The appraised unit confirms the findings and agreed actions (its rectification plan)."""

    comment: ShortText | None = None


class ObjectResultRead(Output):
    """The published result a case rests on, as feedback received it."""

    case_id: uuid.UUID | None = None
    plan_id: uuid.UUID
    object_id: uuid.UUID
    result_version: int
    cycle_id: uuid.UUID
    object_kind: str
    name: str
    org_path: str
    peer_group: str
    composite: Decimal
    grade: str
    rank: int
    peer_count: int
    vetoed: bool
    result: dict[str, Any]


class ObjectResultList(Output):
    items: list[ObjectResultRead]


class PublicCaseSummary(Output):
    """What the public sees of a closed case of a published plan."""

    id: uuid.UUID
    plan_name: str
    cycle_label: str
    object_name: str
    object_kind: str
    grade: str
    reasons: list[str]
    closed_at: dt.datetime | None


class PublicCasePage(Page[PublicCaseSummary]):
    pass
