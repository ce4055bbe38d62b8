"""Published contract for `survey.results.finalized` (producer survey_svc, consumer appraisal_svc).

A published analysis of a survey campaign: one satisfaction index per rated object and
dimension (and, where the questionnaire maps it, the indicator code it feeds), weighted to the
population, with its confidence interval. A cell under the campaign's minimum size is
suppressed: it carries `suppressed=True` and no index, never a number computed from too few
answers. A correction is a new `analysis_version` of the same campaign; consumers keep the
newest version per campaign and refuse an older one.

This module depends on nothing but pydantic and the standard library.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SURVEY_RESULTS_FINALIZED = "survey.results.finalized"

# Indices are on a 0-100 scale, six decimal places at most.
Index = Annotated[Decimal, Field(ge=0, le=100, decimal_places=6)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
RespondentGroup = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]

# Bounded so that one event stays far below the broker's max_payload:
# 2,000 objects x 20 dimensions at ~300 bytes is ~12 MB, too much, so the cap is on cells.
MAX_CELLS = 5_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SatisfactionCell(_Model):
    """The weighted index of one rated object on one dimension (optionally one respondent group)."""

    object_id: uuid.UUID
    dimension: Code
    indicator_code: Code | None = None
    respondent_group: RespondentGroup | None = Field(
        default=None, description="None for the index over all groups (the one appraisal scores)."
    )
    n: int = Field(ge=0, le=10_000_000, description="Valid responses behind the cell.")
    suppressed: bool = Field(description="True when n is below the campaign's minimum cell size.")
    index: Index | None = Field(default=None, description="Weighted satisfaction index, 0-100.")
    ci_low: Index | None = None
    ci_high: Index | None = None
    confidence: Decimal = Field(default=Decimal("0.95"), gt=0, lt=1, decimal_places=4)

    @model_validator(mode="after")
    def _suppressed_cells_carry_no_numbers(self) -> SatisfactionCell:
        numbers = (self.index, self.ci_low, self.ci_high)
        if self.suppressed:
            if any(v is not None for v in numbers):
                raise ValueError("a suppressed cell carries no index or interval")
        else:
            if any(v is None for v in numbers):
                raise ValueError("a published cell carries index, ci_low and ci_high")
            assert self.index is not None and self.ci_low is not None and self.ci_high is not None
            if not self.ci_low <= self.index <= self.ci_high:
                raise ValueError("ci_low <= index <= ci_high must hold")
        return self


class SurveyResultsFinalized(_Model):
    """Payload of `survey.results.finalized`."""

    campaign_id: uuid.UUID
    analysis_version: int = Field(ge=1, description="Grows with each correction of the campaign's analysis.")
    questionnaire_id: uuid.UUID
    questionnaire_version: int = Field(ge=1)
    organizer_org_path: str = Field(min_length=1, max_length=512)
    cycle_label: str | None = Field(default=None, max_length=64, description="e.g. 2026 or 2026-Q3")
    plan_id: uuid.UUID | None = Field(default=None, description="The appraisal plan the campaign serves, if any.")
    fieldwork_start: dt.date
    fieldwork_end: dt.date
    method: Literal["post_stratified", "raked"] = "post_stratified"
    responses_valid: int = Field(ge=0)
    responses_rejected: int = Field(ge=0, description="Speeders, straight-liners, duplicates, out-of-quota.")
    min_cell_size: int = Field(ge=1, le=100_000)
    results_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the analysis' canonical JSON.")
    finalized_at: dt.datetime
    cells: list[SatisfactionCell] = Field(max_length=MAX_CELLS)
