"""Published contract for scoring methods: parameters and pure scoring functions.

indicator_svc stores these parameters on framework leaves; appraisal_svc imports
the same models and functions to score, so a published framework scores the
same everywhere. This module depends on nothing but pydantic and the standard library.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)

# Bounds keep hostile parameters from producing absurd numbers or slow Decimal maths.
Share = Annotated[Decimal, Field(ge=0, le=1, decimal_places=6)]
Cap = Annotated[Decimal, Field(gt=0, le=3, decimal_places=6)]
Amount = Annotated[Decimal, Field(gt=0, le=1000, decimal_places=6)]
Measure = Annotated[Decimal, Field(ge=-(10**12), le=10**12, decimal_places=6)]
SurveyIndex = Annotated[Decimal, Field(ge=0, le=100, decimal_places=6)]

Direction = Literal["higher_better", "lower_better", "target_band"]
GRADE_SCALES: dict[str, tuple[str, ...]] = {
    "ABCD": ("A", "B", "C", "D"),
    "1-5": ("1", "2", "3", "4", "5"),
}

ZERO = Decimal(0)
ONE = Decimal(1)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetRatioParams(_Params):
    """marks x min(actual / target, cap); lower_better uses target / actual."""

    method: Literal["target_ratio"] = "target_ratio"
    cap: Cap = ONE


class LinearParams(_Params):
    """marks x clamp((actual - floor) / (target - floor), 0, cap)."""

    method: Literal["linear"] = "linear"
    floor: Measure
    cap: Cap = ONE


class Band(_Params):
    threshold: Measure
    share: Share


class BandsParams(_Params):
    """Ordered thresholds, each reached threshold earns a fixed share of the marks."""

    method: Literal["bands"] = "bands"
    bands: list[Band] = Field(min_length=1, max_length=50)

    @field_validator("bands")
    @classmethod
    def _thresholds_increase(cls, bands: list[Band]) -> list[Band]:
        for before, after in pairwise(bands):
            if after.threshold <= before.threshold:
                raise ValueError(
                    f"band thresholds must be strictly increasing, got {after.threshold} after {before.threshold}"
                )
        return bands


class RankParams(_Params):
    """First place earns full marks, last place floor_share of them, linearly."""

    method: Literal["rank"] = "rank"
    floor_share: Share = Decimal("0.6")


class GradeParams(_Params):
    """Rater grades mapped to shares of the marks, combined by trimmed mean."""

    method: Literal["grade"] = "grade"
    scale: Literal["ABCD", "1-5"]
    shares: dict[str, Share]
    # Dropping one highest and one lowest rating needs at least 3 ratings to leave one.
    trim_min_raters: int = Field(default=5, ge=3, le=1000)

    @model_validator(mode="after")
    def _shares_cover_scale(self) -> GradeParams:
        expected = set(GRADE_SCALES[self.scale])
        if set(self.shares) != expected:
            raise ValueError(
                f"shares must have exactly the grades {sorted(expected)} of scale "
                f"{self.scale!r}, got {sorted(self.shares)}"
            )
        return self


class DeductionParams(_Params):
    """Minus per_item marks per incident, at most cap in total."""

    method: Literal["deduction"] = "deduction"
    per_item: Amount
    cap: Amount


class BonusParams(_Params):
    """Plus per_item marks per item, at most cap in total."""

    method: Literal["bonus"] = "bonus"
    per_item: Amount
    cap: Amount


class SatisfactionParams(_Params):
    """zero_index or below earns nothing, full_index or above full marks."""

    method: Literal["satisfaction"] = "satisfaction"
    zero_index: SurveyIndex = ZERO
    full_index: SurveyIndex = Decimal(100)

    @model_validator(mode="after")
    def _zero_below_full(self) -> SatisfactionParams:
        if self.zero_index >= self.full_index:
            raise ValueError(f"zero_index ({self.zero_index}) must be below full_index ({self.full_index})")
        return self


def _printable(text: str) -> str:
    # Control characters and lone surrogates cannot be stored (PostgreSQL JSONB refuses NUL)
    # nor survive a file round trip.
    if any((unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t") or c in "\ufffe\uffff" for c in text):
        raise ValueError("must not contain control characters")
    return text


VetoEvent = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]


class VetoParams(_Params):
    """Any listed event caps the object's grade at cap_grade whatever its score."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    method: Literal["veto"] = "veto"
    events: list[VetoEvent] = Field(min_length=1, max_length=50)
    cap_grade: Annotated[str, Field(min_length=1, max_length=32), AfterValidator(_printable)]

    @field_validator("events")
    @classmethod
    def _events_unique(cls, events: list[str]) -> list[str]:
        duplicates = sorted({e for e in events if events.count(e) > 1})
        if duplicates:
            raise ValueError(f"veto events must be unique, repeated: {duplicates}")
        return events


ScoringRule = Annotated[
    TargetRatioParams
    | LinearParams
    | BandsParams
    | RankParams
    | GradeParams
    | DeductionParams
    | BonusParams
    | SatisfactionParams
    | VetoParams,
    Field(discriminator="method"),
]
ScoringRuleAdapter: TypeAdapter[ScoringRule] = TypeAdapter(ScoringRule)
SCORING_METHODS: frozenset[str] = frozenset(
    {
        "target_ratio",
        "linear",
        "bands",
        "rank",
        "grade",
        "deduction",
        "bonus",
        "satisfaction",
        "veto",
    }
)


def _clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return max(low, min(value, high))


def score_target_ratio(
    params: TargetRatioParams,
    *,
    marks: Decimal,
    actual: Decimal,
    target: Decimal,
    direction: Direction,
) -> Decimal:
    """Marks times the achievement ratio, clamped to [0, cap]."""
    if target <= 0:
        raise ValueError(f"target_ratio needs a positive target, got {target}")
    if direction == "higher_better":
        ratio = actual / target
    elif direction == "lower_better":
        # None at all of a "lower is better" quantity (zero accidents) is full success.
        ratio = params.cap if actual <= 0 else target / actual
    else:
        raise ValueError("target_ratio does not support direction target_band; use bands")
    return marks * _clamp(ratio, ZERO, params.cap)


def score_linear(params: LinearParams, *, marks: Decimal, actual: Decimal, target: Decimal) -> Decimal:
    """Linear from floor (nothing) to target (full marks), either direction."""
    if target == params.floor:
        raise ValueError(f"linear needs target different from floor ({params.floor})")
    progress = (actual - params.floor) / (target - params.floor)
    return marks * _clamp(progress, ZERO, params.cap)


def score_bands(params: BandsParams, *, marks: Decimal, actual: Decimal, direction: Direction) -> Decimal:
    """Share of the band reached; nothing when no band is reached.

    higher_better and target_band: the last band whose threshold is at or below actual.
    lower_better: the first band whose threshold is at or above actual.
    """
    if direction == "lower_better":
        reached = [b for b in params.bands if actual <= b.threshold]
        share = reached[0].share if reached else ZERO
    else:
        reached = [b for b in params.bands if actual >= b.threshold]
        share = reached[-1].share if reached else ZERO
    return marks * share


def score_rank(params: RankParams, *, marks: Decimal, position: int, peer_count: int) -> Decimal:
    """Position 1 earns full marks, position peer_count earns floor_share of them."""
    if peer_count < 1 or not 1 <= position <= peer_count:
        raise ValueError(f"position {position} is outside a peer group of {peer_count}")
    if peer_count == 1:
        return marks
    behind = Decimal(position - 1) / Decimal(peer_count - 1)
    return marks * (ONE - behind * (ONE - params.floor_share))


def score_grade(params: GradeParams, *, marks: Decimal, ratings: list[str]) -> Decimal:
    """Marks times the trimmed mean of the raters' grade shares."""
    if not ratings:
        raise ValueError("grade needs at least one rating")
    unknown = sorted(set(ratings) - set(params.shares))
    if unknown:
        raise ValueError(f"ratings {unknown} are not grades of scale {params.scale!r}")
    shares = sorted(params.shares[r] for r in ratings)
    if len(shares) >= params.trim_min_raters:
        shares = shares[1:-1]
    return marks * sum(shares, ZERO) / len(shares)


def _capped_count(per_item: Decimal, cap: Decimal, count: int) -> Decimal:
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    return min(per_item * count, cap)


def score_deduction(params: DeductionParams, *, count: int) -> Decimal:
    """Signed contribution: minus per_item per incident, never below -cap."""
    return -_capped_count(params.per_item, params.cap, count)


def score_bonus(params: BonusParams, *, count: int) -> Decimal:
    """Signed contribution: plus per_item per item, never above cap."""
    return _capped_count(params.per_item, params.cap, count)


def score_satisfaction(params: SatisfactionParams, *, marks: Decimal, index: Decimal) -> Decimal:
    """Linear from zero_index (nothing) to full_index (full marks), clamped."""
    progress = (index - params.zero_index) / (params.full_index - params.zero_index)
    return marks * _clamp(progress, ZERO, ONE)


def veto_applies(params: VetoParams, events: set[str]) -> bool:
    """True when any listed veto event occurred."""
    return not events.isdisjoint(params.events)


def target_problem(
    rule: ScoringRule | None,
    *,
    target: Decimal,
    baseline: Decimal | None = None,
    direction: Direction = "higher_better",
) -> str | None:
    """Why ``target`` cannot be scored by ``rule`` (checked when a target is set, so scoring never
    meets it), or None when it can."""
    if not target.is_finite() or (baseline is not None and not baseline.is_finite()):
        return "targets and baselines must be finite numbers"
    if isinstance(rule, TargetRatioParams) and target <= 0:
        return f"a target_ratio target must be positive, got {target}"
    if isinstance(rule, LinearParams):
        if target == rule.floor:
            return f"a linear target must differ from the floor {rule.floor}"
        if direction == "higher_better" and target < rule.floor:
            return f"higher is better, so the target must lie above the floor {rule.floor}"
        if direction == "lower_better" and target > rule.floor:
            return f"lower is better, so the target must lie below the floor {rule.floor}"
    if isinstance(rule, BandsParams):
        low, high = rule.bands[0].threshold, rule.bands[-1].threshold
        if not low <= target <= high:
            return f"the target {target} lies outside the bands [{low}, {high}]"
    if isinstance(rule, SatisfactionParams) and not ZERO <= target <= Decimal(100):
        return f"a satisfaction target must lie in [0, 100], got {target}"
    return None
