"""API models of objections, rulings, publication and the public results."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.appraisal_results import ObjectResult
from services.appraisal_svc.numbers import PlainDecimal
from services.appraisal_svc.scoring.schemas import GradeRule
from shared.pagination import Page

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
IndicatorCode = Annotated[str, Field(min_length=1, max_length=64)]
MAX_EVIDENCE = 20
MAX_CORRECTED_IDS = 200


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ObjectionCreate(_Input):
    object_id: uuid.UUID
    indicator_code: IndicatorCode | None = Field(
        default=None, description="The leaf objected to; none: the object's result as a whole."
    )
    reason: Annotated[str, Field(min_length=10, max_length=4000)]
    evidence_sha256: list[Sha256] = Field(
        default_factory=list, max_length=MAX_EVIDENCE, description="Files uploaded to /evidence first."
    )

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "object_id": "0195f0a0-0000-7000-8000-000000000001",
                    "indicator_code": "E1",
                    "reason": "The verified job count of Q4 (1,240) was not used; the score uses 940.",
                    "evidence_sha256": ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
                }
            ]
        },
    )


class Correction(_Input):
    """What the office corrected through the data and target routes before upholding."""

    data_point_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_CORRECTED_IDS)
    target_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_CORRECTED_IDS)
    note: Annotated[str, Field(min_length=1, max_length=2000)]

    @model_validator(mode="after")
    def _names_something(self) -> Correction:
        if not self.data_point_ids and not self.target_ids:
            raise ValueError("name the corrected data points or targets")
        return self


class RulingCreate(_Input):
    decision: Literal["upheld", "dismissed"]
    reason: Annotated[str, Field(min_length=10, max_length=4000)]
    correction: Correction | None = Field(default=None, description="Required when upheld; absent when dismissed.")

    @model_validator(mode="after")
    def _correction_follows_decision(self) -> RulingCreate:
        if self.decision == "upheld" and self.correction is None:
            raise ValueError("an upheld objection names its correction")
        if self.decision == "dismissed" and self.correction is not None:
            raise ValueError("a dismissed objection changes nothing, so it has no correction")
        return self


class ObjectionRead(BaseModel):
    id: uuid.UUID
    plan_id: uuid.UUID
    object_id: uuid.UUID
    result_version: int = Field(description="The result version objected to.")
    indicator_code: str | None
    reason: str
    evidence_sha256: list[str]
    filed_by: str
    filed_org_path: str
    filed_at: dt.datetime
    status: Literal["open", "upheld", "dismissed"]
    ruling_reason: str | None
    correction: dict[str, object] | None
    ruled_by: str | None
    ruled_at: dt.datetime | None
    rescore_run_id: uuid.UUID | None
    lock_version: int


class ObjectionPage(Page[ObjectionRead]):
    pass


# --- public ---------------------------------------------------------------------------------------


class PublicCycle(BaseModel):
    id: uuid.UUID
    kind: str
    label: str
    starts_on: dt.date
    ends_on: dt.date


class PublicPlanSummary(BaseModel):
    id: uuid.UUID
    name: str
    owner_org_path: str
    cycle: PublicCycle
    result_version: int
    published_at: dt.datetime


class PublicPlanPage(Page[PublicPlanSummary]):
    pass


class RulingSummary(BaseModel):
    filed: int
    upheld: int
    dismissed: int


class PublicPlanRead(PublicPlanSummary):
    framework_id: uuid.UUID
    framework_hash: str
    grade_scheme: dict[str, object]
    score_places: int
    object_count: int
    results_hash: str
    hash_rules: int = Field(description="The version of the hash rules results_hash follows (docs/scoring.md).")
    rulings: RulingSummary


class PublicSubjectScore(BaseModel):
    subject: str
    score: PlainDecimal | None


class LeagueRow(BaseModel):
    object_id: uuid.UUID
    name: str
    object_kind: str
    org_path: str
    peer_group: str
    rank: int
    peer_count: int
    composite: PlainDecimal
    grade: str
    vetoed: bool
    bonus: PlainDecimal
    deduction: PlainDecimal
    subject_scores: list[PublicSubjectScore]


class LeaguePage(Page[LeagueRow]):
    pass


class PublicExplainLeaf(BaseModel):
    """A leaf of the explain tree as the public reads it: the scoring's ``ExplainLeaf`` without
    the internal data point reference (pydantic drops it on validation)."""

    indicator_code: str
    name: str
    parent_code: str | None
    subject: str
    method: str | None
    direction: str
    parameters: dict[str, Any] | None
    weight: PlainDecimal
    value: PlainDecimal | None
    target: PlainDecimal | None
    baseline: PlainDecimal | None
    share: PlainDecimal | None
    marks: PlainDecimal
    earned: PlainDecimal
    missing: bool


class PublicExplainSubject(BaseModel):
    subject: str
    declared_weight: PlainDecimal
    weight: PlainDecimal
    earned: PlainDecimal
    marks: PlainDecimal
    score: PlainDecimal | None
    contribution: PlainDecimal
    leaves: list[PublicExplainLeaf]


class PublicResultExplain(BaseModel):
    """One object's published result, every number down to the raw value (``ResultExplain``
    without internal references; it holds no names of submitters, notes or files to begin with)."""

    plan_id: uuid.UUID
    version: int
    object_id: uuid.UUID
    object_name: str
    peer_group: str
    period: str
    score_places: int
    missing_rule: str
    total_points: PlainDecimal
    subjects: list[PublicExplainSubject]
    base: PlainDecimal
    bonus_leaves: list[PublicExplainLeaf]
    bonus_cap: PlainDecimal
    bonus: PlainDecimal
    deduction_leaves: list[PublicExplainLeaf]
    deduction: PlainDecimal
    composite: PlainDecimal
    veto_leaves: list[PublicExplainLeaf]
    grade: GradeRule
    rank: int
    peer_count: int


class PublicRuling(BaseModel):
    """A ruled objection as the public sees it: no filer, no reasons of the filer, no evidence."""

    id: uuid.UUID
    object_id: uuid.UUID
    object_name: str
    indicator_code: str | None
    objected_version: int
    filed_at: dt.datetime
    decision: Literal["upheld", "dismissed"]
    ruling_reason: str
    correction: dict[str, object] | None
    ruled_at: dt.datetime
    rescore_version: int | None


class PublicRulingPage(Page[PublicRuling]):
    pass


class ObjectResultPage(Page[ObjectResult]):
    """The published event's objects, paged (``objects_ref`` of a plan published by reference)."""


PublicationStatus = Literal["queued", "running", "succeeded", "failed"]


class PublicationRead(BaseModel):
    """A publication job: the plan reaches ``published`` (or its newer version is out) only when
    the job has succeeded; the results event and the plan's new state commit together."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0192f0c4-5e6a-7cc1-9a57-3c1f4d0d2a12",
                    "plan_id": "0192f0c4-0000-7000-8000-000000000001",
                    "mode": "publish",
                    "status": "succeeded",
                    "progress": 1.0,
                    "run_id": "0192f0c4-5e6a-7cc1-9a57-3c1f4d0d2a11",
                    "result_version": 1,
                    "event_id": "0192f0c4-6000-7000-8000-0000000000e1",
                    "by_reference": True,
                    "requested_by": "office-sz",
                    "requested_at": "2026-11-28T19:00:00Z",
                    "started_at": "2026-11-28T19:00:01Z",
                    "finished_at": "2026-11-28T19:00:09Z",
                    "error": None,
                }
            ]
        }
    )

    id: uuid.UUID
    plan_id: uuid.UUID
    mode: Literal["publish", "republish"] = Field(
        description="publish: objection -> published; republish: a newer version of a published plan."
    )
    status: PublicationStatus
    progress: float = Field(ge=0, le=1)
    run_id: uuid.UUID = Field(description="The scoring run (result version) this job publishes.")
    result_version: int
    event_id: uuid.UUID | None = Field(default=None, description="The results event, once published.")
    by_reference: bool | None = Field(default=None, description="Whether the event carries its objects by reference.")
    requested_by: str
    requested_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: str | None = Field(default=None, description="Why it failed; the plan is then unchanged.")


class PublicationPage(Page[PublicationRead]):
    """A page of a plan's publication jobs, oldest first."""
