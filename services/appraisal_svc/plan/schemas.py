"""API models of plans."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.appraisal_svc.numbers import PlainDecimal
from services.appraisal_svc.plan import logic
from services.appraisal_svc.rollup.schemas import RollupRule
from shared.pagination import Page

MAX_PLAN_OBJECTS = 20_000
SubjectCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Weight = Annotated[Decimal, Field(gt=0, le=1, decimal_places=6)]
GradeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9+-]{1,16}$")]
Score = Annotated[Decimal, Field(ge=0, le=1000, decimal_places=4)]
ScorePlaces = Annotated[int, Field(ge=0, le=6, description="Decimal places of marks and scores (docs/scoring.md).")]
BonusCap = Annotated[
    Decimal, Field(ge=0, le=10_000, decimal_places=6, description="Most bonus points an object can earn in total.")
]
ObjectionPeriod = Annotated[
    dt.timedelta,
    Field(
        ge=dt.timedelta(minutes=1),
        le=dt.timedelta(days=90),
        description="Length of the objection period, an ISO 8601 duration: P7D, PT36H, PT10M.",
    ),
]
PeerGroup = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class GradeThreshold(_Input):
    grade: GradeName
    min_score: Score


def _check_grades(grades: list[GradeThreshold]) -> list[GradeThreshold]:
    problems = logic.grade_problems([(g.grade, g.min_score) for g in grades])
    if problems:
        raise ValueError("; ".join(problems))
    return grades


class GradeScheme(_Input):
    grades: Annotated[list[GradeThreshold], Field(min_length=2, max_length=10), AfterValidator(_check_grades)]
    top_grade_quota: Annotated[Decimal, Field(gt=0, le=1, decimal_places=4)] | None = Field(
        default=None, description="Share of objects that may get the best grade at most."
    )


def _check_weights(weights: dict[str, Decimal]) -> dict[str, Decimal]:
    problems = logic.weight_problems(weights)
    if problems:
        raise ValueError("; ".join(problems))
    return weights


SubjectWeights = Annotated[dict[SubjectCode, Weight], Field(max_length=20), AfterValidator(_check_weights)]


class PlanObjectIn(_Input):
    object_id: uuid.UUID
    peer_group: PeerGroup | None = Field(default=None, description="Default: the object's own peer group.")


def _unique_objects(objects: list[PlanObjectIn]) -> list[PlanObjectIn]:
    if len({o.object_id for o in objects}) != len(objects):
        raise ValueError("each object may appear once")
    return objects


PlanObjects = Annotated[list[PlanObjectIn], Field(max_length=MAX_PLAN_OBJECTS), AfterValidator(_unique_objects)]


class _Deadlines(_Input):
    @model_validator(mode="after")
    def _verification_after_submission(self) -> _Deadlines:
        submission = getattr(self, "submission_deadline", None)
        verification = getattr(self, "verification_deadline", None)
        if submission and verification and verification < submission:
            raise ValueError("verification_deadline must not be before submission_deadline")
        return self


class PlanCreate(_Deadlines):
    name: str = Field(min_length=1, max_length=300)
    cycle_id: uuid.UUID
    framework_id: uuid.UUID
    framework_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    owner_unit_id: uuid.UUID
    objects: PlanObjects = []
    subject_weights: SubjectWeights
    grade_scheme: GradeScheme
    missing_rule: Literal["zero", "renormalize"] = "zero"
    score_places: ScorePlaces = 2
    bonus_cap: BonusCap | None = None
    rating_closes_at: dt.datetime | None = None
    objection_period: ObjectionPeriod = dt.timedelta(days=7)
    rollup: RollupRule | None = Field(default=None, description="How this plan's result comes from its sub-cycles'.")
    submission_deadline: dt.datetime
    verification_deadline: dt.datetime


class PlanUpdate(_Deadlines):
    """Draft plans only; the fields given replace the old ones."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    objects: PlanObjects | None = None
    subject_weights: SubjectWeights | None = None
    grade_scheme: GradeScheme | None = None
    missing_rule: Literal["zero", "renormalize"] | None = None
    score_places: ScorePlaces | None = None
    bonus_cap: BonusCap | None = None
    rating_closes_at: dt.datetime | None = None
    objection_period: ObjectionPeriod | None = None
    rollup: RollupRule | None = None
    submission_deadline: dt.datetime | None = None
    verification_deadline: dt.datetime | None = None


class PlanTransition(_Input):
    to: Annotated[str, Field(min_length=1, max_length=32)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        default=None, description="Why; required to start scoring before the verification deadline."
    )


class PlanRead(BaseModel):
    id: uuid.UUID
    name: str
    cycle_id: uuid.UUID
    framework_id: uuid.UUID
    framework_hash: str
    owner_unit_id: uuid.UUID
    owner_org_path: str
    status: str
    allowed_transitions: list[str]
    subject_weights: dict[str, PlainDecimal]
    grade_scheme: GradeScheme
    missing_rule: str
    score_places: int
    bonus_cap: PlainDecimal | None
    rating_closes_at: dt.datetime | None
    objection_period: dt.timedelta
    objection_closes_at: dt.datetime | None
    published_at: dt.datetime | None
    published_run_id: uuid.UUID | None
    rollup: RollupRule | None
    submission_deadline: dt.datetime
    verification_deadline: dt.datetime
    object_count: int
    opened_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    lock_version: int


class PlanPage(Page[PlanRead]):
    pass


class PlanObjectRead(BaseModel):
    object_id: uuid.UUID
    peer_group: str
    kind: str
    name: str
    org_path: str


class PlanObjectPage(Page[PlanObjectRead]):
    pass


class PlanObjectOfPlanRead(PlanObjectRead):
    plan_id: uuid.UUID


class PlanObjectOfPlanPage(Page[PlanObjectOfPlanRead]):
    pass


class PlanLeafRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    indicator_code: str
    metric: str
    name: str
    parent_code: str | None
    kind: str
    direction: str
    unit: str | None
    weight: PlainDecimal
    method: str | None
    evaluation_subjects: list[str]


class CollectionRow(BaseModel):
    object_id: uuid.UUID
    org_path: str
    expected: int
    submitted: int = Field(description="Current values awaiting verification.")
    verified: int
    accepted: int
    rejected: int
    missing: int
    late: int
    open_flags: int
    completeness: PlainDecimal = Field(description="accepted / expected")
    timeliness: PlainDecimal | None = Field(description="on-time / received; null when nothing arrived")


class PlanCollectionRow(CollectionRow):
    plan_id: uuid.UUID


class PlanCollectionPage(Page[PlanCollectionRow]):
    pass


class CollectionReport(BaseModel):
    plan_id: uuid.UUID
    period: str
    submission_deadline: dt.datetime
    items: list[CollectionRow]
    next_cursor: str | None = None
