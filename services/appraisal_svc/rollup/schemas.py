"""API models of roll-up rules, roll-ups and monitoring."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.appraisal_svc.numbers import PlainDecimal
from shared.pagination import Page

CycleLabel = Annotated[str, Field(pattern=r"^\d{4}(-Q[1-4]|-(0[1-9]|1[0-2])|-\d{4})?$")]
RollupWeight = Annotated[Decimal, Field(gt=0, le=1000, decimal_places=6)]


class RollupRule(BaseModel):
    """How the plan's result comes from the published results of its cycle's sub-cycles."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"method": "weighted", "weights": {"2026-Q1": 1, "2026-Q4": 2}}]},
    )

    method: Literal["mean", "weighted"]
    weights: dict[CycleLabel, RollupWeight] | None = Field(
        default=None, max_length=60, description="Per sub-cycle label; a sub-cycle without a weight does not count."
    )

    @model_validator(mode="after")
    def _weights_go_with_weighted(self) -> RollupRule:
        if self.method == "weighted" and not self.weights:
            raise ValueError("the weighted method needs weights per sub-cycle label")
        if self.method == "mean" and self.weights:
            raise ValueError("the mean method takes no weights")
        return self


class SubCycleResult(BaseModel):
    cycle_id: uuid.UUID
    label: str
    plan_id: uuid.UUID
    run_id: uuid.UUID
    composite: PlainDecimal
    weight: PlainDecimal


class RollupRow(BaseModel):
    object_id: uuid.UUID
    sub_cycles: list[SubCycleResult] = Field(description="The published results found, by label.")
    missing: list[str] = Field(description="Labels of sub-cycles without a published result for the object.")
    composite: PlainDecimal | None = Field(description="Rolled up and rounded half-up; null when nothing counts.")


class RollupPage(Page[RollupRow]):
    method: str
    sub_cycle_labels: list[str]
    score_places: int


class MonitoringRow(BaseModel):
    object_id: uuid.UUID
    indicator_code: str
    method: str
    direction: str
    value: PlainDecimal | None = Field(description="The latest accepted value; null when none arrived yet.")
    data_point_id: uuid.UUID | None
    target: PlainDecimal
    baseline: PlainDecimal | None
    attainment: PlainDecimal = Field(description="Share of the target reached, by the leaf's method (6 places).")
    lag: PlainDecimal = Field(description="elapsed_share - attainment (6 places).")


class MonitoringPage(Page[MonitoringRow]):
    as_of: dt.date
    elapsed_share: PlainDecimal
    tolerance: PlainDecimal
