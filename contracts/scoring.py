"""Published contract for scoring methods: parameters and the reference scoring functions.

indicator_svc stores these parameters on framework leaves; appraisal_svc validates targets and
inputs with them, and its set-based engine is proven equal to the functions here. The rules are
those of `docs/scoring.md`, followed to the digit. This module depends on nothing but pydantic and
the standard library.

Every function computes inside `localcontext(SCORE_CONTEXT)`, so the caller's decimal context never
changes a result. Share functions return None for *missing* (no value, a suppressed cell, too few
ratings, or stored data that cannot be scored); they never raise on stored data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator, model_validator

# 60 significant digits: every quotient of the bounded inputs (|x| <= 10^12, 6 places) is far more
# exact than any rounding applied to it; the traps turn a slip into an error instead of a NaN.
SCORE_CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])
# A computed product or quotient is first rounded to this many places, then to the result's places.
# Bounded inputs put the true rational either exactly on a rounding boundary or at least 5 x 10^-31
# away from it (docs/scoring.md, "Arithmetic"); 60 digits (Python) and numeric(60,40) (SQL) are off
# by less than 10^-36. Rounding at 32 places therefore puts an exact tie back on the boundary (7 x
# 1/1400 is 0.005, not 0.00499..9) and moves no other value across one.
TIE_PLACES = 32
MAX_PLACES = 6

# Bounds keep hostile parameters from producing absurd numbers or slow Decimal maths.
Share = Annotated[Decimal, Field(ge=0, le=1, decimal_places=6)]
Cap = Annotated[Decimal, Field(gt=0, le=3, decimal_places=6)]
Amount = Annotated[Decimal, Field(gt=0, le=1000, decimal_places=6)]
Measure = Annotated[Decimal, Field(ge=-(10**12), le=10**12, decimal_places=6)]
SurveyIndex = Annotated[Decimal, Field(ge=0, le=100, decimal_places=6)]
TrimShare = Annotated[Decimal, Field(ge=0, lt=Decimal("0.5"), decimal_places=6)]
# A veto code is a stable slug: events are recorded and matched by code, never by free text.
VetoCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]
# The spelling of a grade in a plan's grade scheme (appraisal_svc checks the cap against the scheme).
GradeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9+-]{1,16}$")]

Direction = Literal["higher_better", "lower_better", "target_band"]
# Best grade first.
GRADE_SCALES: dict[str, tuple[str, ...]] = {
    "ABCD": ("A", "B", "C", "D"),
    "1-5": ("5", "4", "3", "2", "1"),
}

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetRatioParams(_Params):
    """higher_better: actual / target; lower_better: (zero_point - actual) / (zero_point - target)."""

    method: Literal["target_ratio"] = "target_ratio"
    cap: Cap = ONE
    # The value that earns nothing when lower is better (required then; see rule_problems).
    zero_point: Measure | None = None


class LinearParams(_Params):
    """clamp((actual - floor) / (target - floor), 0, cap); the floor is a value or the object's baseline."""

    method: Literal["linear"] = "linear"
    # floor_from comes first so that the check of floor (an error located at "floor") can see it.
    floor_from: Literal["value", "baseline"] = "value"
    floor: Measure | None = Field(default=None, validate_default=True)
    cap: Cap = ONE

    @field_validator("floor")
    @classmethod
    def _floor_given_once(cls, floor: Decimal | None, info: ValidationInfo) -> Decimal | None:
        floor_from = info.data.get("floor_from")
        if floor_from == "value" and floor is None:
            raise ValueError('floor is required when floor_from is "value"')
        if floor_from == "baseline" and floor is not None:
            raise ValueError('floor must be left out when floor_from is "baseline" (the baseline is the floor)')
        return floor


class Band(_Params):
    threshold: Measure
    share: Share


class BandsParams(_Params):
    """Ordered thresholds; the band reached earns its fixed share (see share_bands)."""

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
    """First place earns the full share, last place floor_share, linearly between."""

    method: Literal["rank"] = "rank"
    floor_share: Share = Decimal("0.6")


class GradeParams(_Params):
    """Rater grades mapped to shares, combined per evaluation subject by a trimmed mean."""

    method: Literal["grade"] = "grade"
    scale: Literal["ABCD", "1-5"]
    shares: dict[str, Share]
    # floor(n x trim_share) ratings are dropped at each end; below 0.5 so that one always remains.
    trim_share: TrimShare = Decimal("0.1")
    min_raters: int = Field(default=1, ge=1, le=1000)

    @field_validator("shares")
    @classmethod
    def _shares_fall_from_best_to_worst(cls, shares: dict[str, Decimal], info: ValidationInfo) -> dict[str, Decimal]:
        scale = info.data.get("scale")
        if scale is None:  # the scale itself is wrong, and reported
            return shares
        grades = GRADE_SCALES[scale]
        if set(shares) != set(grades):
            raise ValueError(
                f"shares must have exactly the grades {list(grades)} of scale {scale!r}, got {sorted(shares)}"
            )
        for better, worse in pairwise(grades):
            if shares[worse] > shares[better]:
                raise ValueError(
                    f"grade {worse!r} must not earn more than the better grade {better!r} "
                    f"({shares[worse]} > {shares[better]})"
                )
        if shares[grades[0]] <= shares[grades[-1]]:
            raise ValueError(f"the best grade {grades[0]!r} must earn more than the worst grade {grades[-1]!r}")
        return shares


class DeductionParams(_Params):
    """per_item points deducted per incident, at most cap in total (cap <= the framework's total)."""

    method: Literal["deduction"] = "deduction"
    per_item: Amount
    cap: Amount


class BonusParams(_Params):
    """per_item points added per item, at most cap in total (cap <= the framework's total)."""

    method: Literal["bonus"] = "bonus"
    per_item: Amount
    cap: Amount


class SatisfactionParams(_Params):
    """zero_index or below earns nothing, full_index or above the full share."""

    method: Literal["satisfaction"] = "satisfaction"
    zero_index: SurveyIndex = ZERO
    full_index: SurveyIndex = HUNDRED

    @model_validator(mode="after")
    def _zero_below_full(self) -> SatisfactionParams:
        if self.zero_index >= self.full_index:
            raise ValueError(f"zero_index ({self.zero_index}) must be below full_index ({self.full_index})")
        return self


class VetoParams(_Params):
    """A recorded veto event whose code is listed caps the object's grade at cap_grade."""

    method: Literal["veto"] = "veto"
    events: list[VetoCode] = Field(min_length=1, max_length=50)
    cap_grade: GradeName

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
    {"target_ratio", "linear", "bands", "rank", "grade", "deduction", "bonus", "satisfaction", "veto"}
)
# Methods that order values and so cannot score a target band (only bands can).
_ORDERING_METHODS = frozenset({"target_ratio", "linear", "rank"})


# ---------------------------------------------------------------------------- arithmetic


def _finite(*values: Decimal | None) -> bool:
    return all(v is not None and v.is_finite() for v in values)


def _clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return max(low, min(value, high))


def round_half_up(x: Decimal, places: int) -> Decimal:
    """x rounded to ``places`` decimal places, ties away from zero (as PostgreSQL's round)."""
    if not 0 <= places <= TIE_PLACES:
        raise ValueError(f"places must lie in [0, {TIE_PLACES}], got {places}")
    with localcontext(SCORE_CONTEXT):
        # + ZERO turns a negative zero (-0.001 -> -0.00) into 0.00.
        return x.quantize(Decimal(1).scaleb(-places)) + ZERO


def round_score(x: Decimal, places: int) -> Decimal:
    """A computed score rounded half-up to ``places``: first to TIE_PLACES, so that an exact tie
    computed as 0.4999..9 is rounded like the true rational (see TIE_PLACES)."""
    return round_half_up(round_half_up(x, TIE_PLACES), places)


def marks_earned(marks: Decimal, share: Decimal, places: int) -> Decimal:
    """The only rounded number of a leaf: round_half_up(marks x share, places)."""
    with localcontext(SCORE_CONTEXT):
        return round_score(marks * share, places)


# ---------------------------------------------------------------------------- shares


def share_target_ratio(
    params: TargetRatioParams, *, actual: Decimal | None, target: Decimal | None, direction: str
) -> Decimal | None:
    """higher_better: clamp(actual / target, 0, cap), target > 0; lower_better:
    clamp((zero_point - actual) / (zero_point - target), 0, cap), zero_point > target."""
    if not _finite(actual, target) or actual is None or target is None:
        return None
    with localcontext(SCORE_CONTEXT):
        if direction == "higher_better":
            if target <= 0:
                return None
            return _clamp(actual / target, ZERO, params.cap)
        if direction == "lower_better":
            zero_point = params.zero_point
            if zero_point is None or zero_point <= target:
                return None
            return _clamp((zero_point - actual) / (zero_point - target), ZERO, params.cap)
        return None


def share_linear(
    params: LinearParams,
    *,
    actual: Decimal | None,
    target: Decimal | None,
    baseline: Decimal | None,
    direction: str,
) -> Decimal | None:
    """clamp((actual - floor) / (target - floor), 0, cap); higher_better needs target > floor,
    lower_better target < floor. The floor is ``params.floor`` or the object's baseline."""
    floor = baseline if params.floor_from == "baseline" else params.floor
    if not _finite(actual, target, floor) or actual is None or target is None or floor is None:
        return None
    if not ((direction == "higher_better" and target > floor) or (direction == "lower_better" and target < floor)):
        return None
    with localcontext(SCORE_CONTEXT):
        return _clamp((actual - floor) / (target - floor), ZERO, params.cap)


def share_bands(params: BandsParams, *, actual: Decimal | None, direction: str) -> Decimal | None:
    """higher_better and target_band: the share of the last band whose threshold <= actual;
    lower_better: of the first band whose threshold >= actual; 0 when no band is reached."""
    if not _finite(actual) or actual is None:
        return None
    if direction == "lower_better":
        reached = [b for b in params.bands if b.threshold >= actual]
        return reached[0].share if reached else ZERO
    if direction in ("higher_better", "target_band"):
        reached = [b for b in params.bands if b.threshold <= actual]
        return reached[-1].share if reached else ZERO
    return None


def competition_ranks(values: Sequence[Decimal | None], direction: str) -> list[int | None]:
    """Competition ranks (1, 2, 2, 4) best first in the direction; None for a missing value (and
    for every value when the direction does not order them: target_band)."""
    if direction not in ("higher_better", "lower_better"):
        return [None] * len(values)
    present = sorted((v for v in values if v is not None and v.is_finite()), reverse=direction == "higher_better")
    first_position: dict[Decimal, int] = {}
    for position, value in enumerate(present, start=1):
        first_position.setdefault(value, position)
    return [first_position[v] if v is not None and v.is_finite() else None for v in values]


def share_rank(params: RankParams, *, position: int, peer_count: int) -> Decimal | None:
    """1 - (position - 1) / (n - 1) x (1 - floor_share); n = 1 gives 1; a position that is not a
    whole number within [1, n] is missing."""
    if type(position) is not int or type(peer_count) is not int or not 1 <= position <= peer_count:
        return None
    if peer_count == 1:
        return ONE
    with localcontext(SCORE_CONTEXT):
        return ONE - Decimal(position - 1) / Decimal(peer_count - 1) * (ONE - params.floor_share)


def share_grade(params: GradeParams, ratings: Iterable[str]) -> Decimal | None:
    """One evaluation subject's ratings mapped to shares, sorted, floor(n x trim_share) dropped at
    each end, mean of the rest; missing with fewer than min_raters ratings. A rating that is not a
    grade of the scale does not count."""
    shares = sorted(params.shares[r] for r in ratings if r in params.shares)
    n = len(shares)
    if n == 0 or n < params.min_raters:
        return None
    with localcontext(SCORE_CONTEXT):
        trim = math.floor(n * params.trim_share)
        kept = shares[trim : n - trim]
        return sum(kept, ZERO) / len(kept)


def share_satisfaction(params: SatisfactionParams, *, index: Decimal | None) -> Decimal | None:
    """clamp((index - zero_index) / (full_index - zero_index), 0, 1); an index outside [0, 100] or
    a suppressed cell (None) is missing."""
    if not _finite(index) or index is None or not ZERO <= index <= HUNDRED:
        return None
    with localcontext(SCORE_CONTEXT):
        return _clamp((index - params.zero_index) / (params.full_index - params.zero_index), ZERO, ONE)


def _capped_count(per_item: Decimal, cap: Decimal, count: Decimal | int | None) -> Decimal:
    if count is None or (isinstance(count, Decimal) and not count.is_finite()):
        return ZERO
    with localcontext(SCORE_CONTEXT):
        whole = max(math.floor(count), 0)
        return min(per_item * whole, cap)


def bonus_earned(params: BonusParams, *, count: Decimal | int | None) -> Decimal:
    """min(per_item x floor(count), cap) >= 0; a negative or missing count earns nothing."""
    return _capped_count(params.per_item, params.cap, count)


def deduction_earned(params: DeductionParams, *, count: Decimal | int | None) -> Decimal:
    """The amount deducted (>= 0): min(per_item x floor(count), cap)."""
    return _capped_count(params.per_item, params.cap, count)


def veto_codes_hit(params: VetoParams, codes: Iterable[str]) -> bool:
    """True when any recorded veto event's code is one the leaf lists."""
    return not set(params.events).isdisjoint(codes)


# ---------------------------------------------------------------------------- checks


def rule_problems(rule: ScoringRule, *, direction: str, total_points: Decimal) -> list[str]:
    """Parameters that are only wrong together with the leaf's direction or the framework's total
    points (each model checks its own fields alone). Empty when the rule can score the leaf."""
    problems: list[str] = []
    if direction == "target_band" and rule.method in _ORDERING_METHODS:
        problems.append(f"{rule.method} cannot score a target band (a value best in the middle); use bands")
    if isinstance(rule, TargetRatioParams):
        if direction == "lower_better" and rule.zero_point is None:
            problems.append("lower is better, so target_ratio needs a zero_point (the value that earns nothing)")
        if direction == "higher_better" and rule.zero_point is not None:
            problems.append("zero_point applies only when lower is better (higher is better scores actual / target)")
    elif isinstance(rule, BandsParams):
        shares = [b.share for b in rule.bands]
        if direction == "higher_better" and any(b < a for a, b in pairwise(shares)):
            problems.append("higher is better, so band shares must not fall as thresholds rise")
        elif direction == "lower_better" and any(b > a for a, b in pairwise(shares)):
            problems.append("lower is better, so band shares must not rise as thresholds rise")
        elif direction == "target_band":
            problems += _target_band_problems(shares)
    elif isinstance(rule, BonusParams | DeductionParams) and rule.cap > total_points:
        problems.append(f"the {rule.method} cap {rule.cap} exceeds the framework's total points {total_points}")
    return problems


def _target_band_problems(shares: list[Decimal]) -> list[str]:
    peak = shares.index(max(shares))
    rising, falling = shares[: peak + 1], shares[peak:]
    unimodal = all(a <= b for a, b in pairwise(rising)) and all(a >= b for a, b in pairwise(falling))
    if max(shares) != ONE or not unimodal or shares[-1] >= ONE:
        return [
            "a target band's shares must rise to a peak of exactly 1 and then fall "
            "(at least one band after the peak below 1)"
        ]
    return []


def target_problem(
    rule: ScoringRule | None,
    *,
    target: Decimal,
    baseline: Decimal | None = None,
    direction: str = "higher_better",
) -> str | None:
    """Why ``target`` (with the object's ``baseline``) cannot be scored by ``rule``, or None when it
    can. Checked whenever a target is set, so scoring never meets an impossible target."""
    if not target.is_finite() or (baseline is not None and not baseline.is_finite()):
        return "targets and baselines must be finite numbers"
    if isinstance(rule, TargetRatioParams):
        if direction == "higher_better" and target <= 0:
            return f"a target_ratio target must be positive, got {target}"
        if direction == "lower_better":
            if rule.zero_point is None:
                return "lower is better, so the target_ratio rule needs a zero_point"
            if rule.zero_point <= target:
                return f"lower is better, so the target must lie below the zero_point {rule.zero_point}, got {target}"
    if isinstance(rule, LinearParams):
        name = "baseline" if rule.floor_from == "baseline" else "floor"
        floor = baseline if rule.floor_from == "baseline" else rule.floor
        if floor is None:
            return f"the linear rule's floor is the {name}, so a {name} is required"
        if target == floor:
            return f"a linear target must differ from the {name} {floor}"
        if direction == "higher_better" and target < floor:
            return f"higher is better, so the target must lie above the {name} {floor}"
        if direction == "lower_better" and target > floor:
            return f"lower is better, so the target must lie below the {name} {floor}"
    if isinstance(rule, BandsParams):
        low, high = rule.bands[0].threshold, rule.bands[-1].threshold
        if not low <= target <= high:
            return f"the target {target} lies outside the bands [{low}, {high}]"
    if isinstance(rule, SatisfactionParams) and not ZERO <= target <= HUNDRED:
        return f"a satisfaction target must lie in [0, 100], got {target}"
    if direction == "target_band" and rule is not None and rule.method in _ORDERING_METHODS:
        return f"{rule.method} cannot score a target band; use bands"
    return None


# ---------------------------------------------------------------------------- results hash


def plain(x: Decimal | int | bool | str | None) -> str:
    """A field of a hashed line: a number in its plain spelling without trailing zeros (``100``,
    ``0.5``, never ``1E+2``), a boolean as ``t``/``f`` (as PostgreSQL spells it), None as the empty
    string."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return "t" if x else "f"
    if isinstance(x, Decimal):
        spelled = format(x, "f")
        return spelled.rstrip("0").rstrip(".") if "." in spelled else spelled
    return str(x)


def hash_line(*fields: Decimal | int | bool | str | None) -> str:
    return "|".join(plain(f) for f in fields)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# The version of the hash rules (docs/scoring.md, "Reproducibility") a run's hashes follow; a run
# records it. Rules 1 hashed an object's leaf lines line by line; rules 2 hash them column by column.
HASH_RULES = 2


def leaves_part(leaf_rows: Sequence[Sequence[Decimal | int | bool | str | None]], rules: int = HASH_RULES) -> str:
    """sha256 of one object's leaf lines, each given as its fields, in the rule book's order.

    Rules 2: the lines' columns joined by newlines, a column being its fields in line order joined
    by ``|``. Rules 1: the lines joined by newlines. No lines: the sha256 of the empty string."""
    if not leaf_rows:
        return _sha256("")
    if rules == 1:
        return _sha256("\n".join(hash_line(*row) for row in leaf_rows))
    columns = zip(*leaf_rows, strict=True)
    return _sha256("\n".join(hash_line(*column) for column in columns))


def object_digest(
    object_line: str,
    subject_lines: Sequence[str],
    leaf_rows: Sequence[Sequence[Decimal | int | bool | str | None]],
    rules: int = HASH_RULES,
) -> str:
    """One object's part of the results hash (docs/scoring.md, "Reproducibility"): sha256 of its
    result line, its subject lines and ``leaves_part`` of its leaf lines, joined by newlines; the
    lines in the rule book's order (subjects, then leaves by indicator code and subject, in byte
    order). A leaf line's fields: indicator code, subject, value, target, baseline, share, marks,
    earned, missing."""
    return _sha256("\n".join([object_line, *subject_lines, leaves_part(leaf_rows, rules)]))


def results_hash(object_digests: Iterable[tuple[str, str]]) -> str:
    """sha256 of the objects' digests in object id order, joined by newlines: (object id, digest)."""
    return _sha256("\n".join(digest for _, digest in sorted(object_digests)))
