"""Published contract for `appraisal.results.published` (producer appraisal_svc, consumers feedback_svc, survey_svc).

One event per published result version of a plan. It carries, per object, what the
feedback loop needs to diagnose it: composite and subject scores, grade, veto, rank among
its peers, and per leaf the raw value, target, attainment and marks. Peer statistics (best,
median) are not carried: consumers compute them from the objects of the same peer group.

An upheld objection rescoring the plan publishes a new `result_version` of the same plan;
consumers keep the newest per plan and refuse an older one (the envelope's per-aggregate
sequence orders them too; the aggregate is the plan).

A plan whose event would pass the broker's limit is published by reference: `objects` is
empty, `objects_ref` names the REST path to page through, and `objects_hash` lets the consumer
check what it fetched. Small plans (the usual county or city plan) travel whole.

This module depends on nothing but pydantic and the standard library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

APPRAISAL_RESULTS_PUBLISHED = "appraisal.results.published"

Score = Annotated[Decimal, Field(ge=-(10**6), le=10**6, decimal_places=6)]
Measure = Annotated[Decimal, Field(ge=-(10**12), le=10**12, decimal_places=6)]
Share = Annotated[Decimal, Field(ge=0, le=10, decimal_places=6)]
Code = Annotated[str, Field(min_length=1, max_length=64)]

MAX_OBJECTS_INLINE = 2_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeafResult(_Model):
    """One scored leaf indicator of one object."""

    indicator_code: Code
    name: str = Field(min_length=1, max_length=300)
    subject: Code | None = Field(default=None, description="Evaluation subject the leaf counts for.")
    kind: Literal["quantitative", "qualitative", "satisfaction", "bonus", "deduction", "veto"] = "quantitative"
    direction: Literal["higher_better", "lower_better", "target_band"] | None = None
    value: Measure | None = Field(default=None, description="Raw accepted value; None when missing.")
    target: Measure | None = None
    baseline: Measure | None = None
    attainment: Share | None = Field(default=None, description="marks / max_marks, 0..1 (bonus may pass 1).")
    marks: Score
    max_marks: Score
    missing: bool = False


class SubjectScore(_Model):
    subject: Code
    score: Score
    weight: Decimal = Field(ge=0, le=1, decimal_places=6)


class ObjectResult(_Model):
    object_id: uuid.UUID
    object_kind: Literal["government", "department", "official", "project", "policy"]
    name: str = Field(min_length=1, max_length=300)
    org_unit_id: uuid.UUID
    org_path: str = Field(min_length=1, max_length=512)
    peer_group: Code
    composite: Score
    subject_scores: list[SubjectScore] = Field(default_factory=list, max_length=20)
    grade: Code
    rank: int = Field(ge=1, description="Competition rank (1, 2, 2, 4) within the peer group.")
    peer_count: int = Field(ge=1)
    vetoed: bool = False
    veto_codes: list[Code] = Field(default_factory=list, max_length=50)
    bonus: Score = Decimal(0)
    deduction: Score = Decimal(0)
    leaves: list[LeafResult] = Field(default_factory=list, max_length=500)


class ResultsPublished(_Model):
    """Payload of `appraisal.results.published`."""

    plan_id: uuid.UUID
    plan_name: str = Field(min_length=1, max_length=300)
    result_version: int = Field(ge=1)
    cycle_id: uuid.UUID
    cycle_kind: Literal["monthly", "quarterly", "annual", "term"]
    cycle_label: str = Field(min_length=1, max_length=64, description="e.g. 2026, 2026-Q3")
    cycle_start: dt.date
    cycle_end: dt.date
    previous_cycle_id: uuid.UUID | None = Field(default=None, description="The same plan's previous cycle, for trends.")
    owner_org_path: str = Field(min_length=1, max_length=512)
    framework_id: uuid.UUID
    framework_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    grade_scale: tuple[Code, ...] = Field(min_length=2, max_length=10, description="Best grade first.")
    results_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    hash_rules: int = Field(default=1, ge=1, description="The hash rules results_hash follows (contracts.scoring).")
    published_at: dt.datetime
    object_count: int = Field(ge=0)
    objects: list[ObjectResult] = Field(default_factory=list, max_length=MAX_OBJECTS_INLINE)
    objects_ref: str | None = Field(
        default=None, max_length=300, description="REST path (under the appraisal API) when objects are not inline."
    )
    objects_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")

    @model_validator(mode="after")
    def _inline_or_by_reference(self) -> ResultsPublished:
        if self.objects_ref is None and len(self.objects) != self.object_count:
            raise ValueError("objects inline must number object_count")
        if self.objects_ref is not None and (self.objects or self.objects_hash is None):
            raise ValueError("by reference: no inline objects, and objects_hash is required")
        return self


def object_line(item: ObjectResult) -> bytes:
    """One object's line in ``objects_hash``: the object as this model writes it in JSON (fields in
    declared order, no spaces), then a newline. A consumer validates each fetched item with
    ``ObjectResult`` and hashes the same lines."""
    return item.model_dump_json().encode() + b"\n"


def objects_digest(objects: Iterable[ObjectResult]) -> str:
    """``objects_hash``: sha256 over the objects' lines in ``object_id`` order (the order
    ``objects_ref`` pages them in)."""
    digest = hashlib.sha256()
    for item in sorted(objects, key=lambda o: o.object_id):
        digest.update(object_line(item))
    return digest.hexdigest()
