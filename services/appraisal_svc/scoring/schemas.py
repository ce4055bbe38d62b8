"""API models of scoring runs, league tables and the explain tree of one object's result.

Numbers are spelled plainly (``PlainDecimal``): every one of them can be recomputed by hand from
the explain tree with the formulas of docs/scoring.md."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.appraisal_svc.numbers import PlainDecimal
from shared.pagination import Page

RunStatus = Literal["queued", "running", "succeeded", "failed"]


class ScoringRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(default="requested", min_length=1, max_length=500, description="Why the plan is rescored.")


class ScoringRunRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0192f0c4-5e6a-7cc1-9a57-3c1f4d0d2a11",
                    "plan_id": "0192f0c4-0000-7000-8000-000000000001",
                    "version": 2,
                    "status": "succeeded",
                    "progress": 1.0,
                    "reason": "objection upheld",
                    "requested_by": "office-sz",
                    "requested_at": "2026-11-28T19:00:00Z",
                    "started_at": "2026-11-28T19:00:01Z",
                    "finished_at": "2026-11-28T19:00:04Z",
                    "object_count": 10000,
                    "value_count": 1000000,
                    "inputs_hash": "9f2c...",
                    "results_hash": "51ab...",
                    "hash_rules": 2,
                    "timings": {"load": 1.2, "score": 0.9, "roll_up": 0.4, "persist": 1.1, "hash": 0.3},
                    "error": None,
                }
            ]
        }
    )

    id: uuid.UUID
    plan_id: uuid.UUID
    version: int = Field(description="The result version this run writes (1, 2, ... per plan).")
    status: RunStatus
    progress: float = Field(ge=0, le=1)
    reason: str
    requested_by: str
    requested_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    object_count: int | None
    value_count: int | None = Field(description="Accepted values the run scored (one per object and leaf at most).")
    inputs_hash: str | None = Field(description="sha256 of everything the run read, in a fixed order.")
    results_hash: str | None = Field(description="sha256 of the result rows (docs/scoring.md, Reproducibility).")
    hash_rules: int | None = Field(description="The version of the hash rules both hashes follow (contracts.scoring).")
    timings: dict[str, float] | None = Field(description="Seconds per phase.")
    error: str | None = Field(description="Why a failed run failed; it wrote no results.")


class ScoringRunPage(Page[ScoringRunRead]):
    pass


class ResultRow(BaseModel):
    """One line of the league table."""

    object_id: uuid.UUID
    object_name: str
    peer_group: str
    composite: PlainDecimal
    grade: str
    grade_by_score: str
    veto_cap: str | None
    quota_demoted: bool
    rank: int = Field(description="Competition rank by composite within the peer group (1, 2, 2, 4).")
    peer_count: int


class ResultPage(Page[ResultRow]):
    run_id: uuid.UUID
    version: int


class ExplainLeaf(BaseModel):
    """One leaf for one evaluation subject ('' for bonus, deduction and veto leaves)."""

    indicator_code: str
    name: str
    parent_code: str | None
    subject: str
    method: str | None
    direction: str
    parameters: dict[str, Any] | None = Field(description="The leaf's scoring rule as the framework published it.")
    weight: PlainDecimal = Field(description="The leaf's marks (points) in the framework.")
    value: PlainDecimal | None = Field(description="The accepted value scored (count for bonus and deduction).")
    data_point_id: uuid.UUID | None
    target: PlainDecimal | None
    baseline: PlainDecimal | None
    share: PlainDecimal | None = Field(description="Attainment in [0, cap]; null when missing.")
    marks: PlainDecimal = Field(description="Marks that count in the subject (0 when missing under renormalize).")
    earned: PlainDecimal = Field(description="round_half_up(weight x share, places); signed for deductions.")
    missing: bool


class ExplainSubject(BaseModel):
    subject: str
    declared_weight: PlainDecimal = Field(description="The plan's weight of the subject.")
    weight: PlainDecimal = Field(description="declared weight / sum of the present subjects' declared weights.")
    earned: PlainDecimal = Field(description="Sum of the earned marks of the subject's leaves.")
    marks: PlainDecimal = Field(description="Sum of the marks of the subject's leaves that count.")
    score: PlainDecimal | None = Field(description="round_half_up(100 x earned / marks, places); null when missing.")
    contribution: PlainDecimal = Field(
        description="round_half_up(total_points x weight x earned / marks, places), weight unrounded."
    )
    leaves: list[ExplainLeaf]


class GradeThresholdRead(BaseModel):
    grade: str
    min_score: PlainDecimal


class GradeRule(BaseModel):
    thresholds: list[GradeThresholdRead] = Field(description="Best grade first.")
    grade_by_score: str = Field(description="The best grade whose min_score <= composite.")
    veto_codes: list[str] = Field(description="Recorded, not withdrawn veto events that a veto leaf lists.")
    veto_cap: str | None = Field(description="The lowest cap of the veto leaves hit.")
    top_grade_quota: PlainDecimal | None
    top_grade_slots: int | None = Field(description="floor(quota x objects of the plan).")
    quota_demoted: bool
    tie_rule: str
    grade: str = Field(description="The final grade.")


class ResultExplain(BaseModel):
    """Everything needed to recompute one object's result by hand."""

    plan_id: uuid.UUID
    run_id: uuid.UUID
    version: int
    object_id: uuid.UUID
    object_name: str
    peer_group: str
    period: str
    score_places: int
    missing_rule: str
    total_points: PlainDecimal
    subjects: list[ExplainSubject]
    base: PlainDecimal = Field(description="Sum of the subject contributions.")
    bonus_leaves: list[ExplainLeaf]
    bonus_cap: PlainDecimal = Field(description="The plan's bonus cap, or the framework's total points.")
    bonus: PlainDecimal = Field(description="min(sum of bonus leaves, bonus_cap).")
    deduction_leaves: list[ExplainLeaf]
    deduction: PlainDecimal = Field(description="Sum of the deduction leaves, as a positive number.")
    composite: PlainDecimal = Field(description="max(0, base + bonus - deduction).")
    veto_leaves: list[ExplainLeaf]
    grade: GradeRule
    rank: int
    peer_count: int


class LeagueTableOfPlan(Page[ResultRow]):
    """One plan's first page of its latest league table, in a batch read across plans."""

    plan_id: uuid.UUID
    run_id: uuid.UUID
    version: int


class LeagueTablePage(Page[LeagueTableOfPlan]):
    """League tables of several plans, answered whole (``next_cursor`` is always null)."""


class ResultExplainPage(Page[ResultExplain]):
    """Explain trees of several objects of one plan, answered whole (``next_cursor`` is always null)."""
