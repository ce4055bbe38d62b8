"""Roll-ups and peacetime monitoring (pure): how an annual result comes from its quarters (and a
term result from its years), how far a cycle has run, and how far a leaf has got towards its
target. The SQL in ``service.py`` computes the same numbers set-based; tests hold the two equal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

# docs/scoring.md: exact shares in a fixed context, only the published numbers rounded half-up.
CONTEXT = Context(prec=60, rounding=ROUND_HALF_UP)
SHOWN_PLACES = 6  # attainment and elapsed share as shown (comparisons use the exact values)


def round_half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=CONTEXT)


def rollup_weight(method: str, weights: Mapping[str, Decimal] | None, label: str) -> Decimal:
    """Each sub-cycle counts once under ``mean``; under ``weighted`` with its stated weight (a
    sub-cycle the rule gives no weight does not count)."""
    if method == "mean":
        return Decimal(1)
    return (weights or {}).get(label, Decimal(0))


def rolled_composite(
    composites: Mapping[str, Decimal | None], *, method: str, weights: Mapping[str, Decimal] | None, places: int
) -> Decimal | None:
    """The weighted mean of the present sub-cycles' composites, renormalized over the present
    ones, rounded half-up at ``places``; None when no weighted sub-cycle is present."""
    present = {label: c for label, c in composites.items() if c is not None}
    total_weight = sum((rollup_weight(method, weights, label) for label in present), Decimal(0))
    if total_weight == 0:
        return None
    total = sum((c * rollup_weight(method, weights, label) for label, c in present.items()), Decimal(0))
    return round_half_up(CONTEXT.divide(total, total_weight), places)


def elapsed_share(starts_on: dt.date, ends_on: dt.date, today: dt.date) -> Decimal:
    """The share of the cycle's days fully behind us on ``today`` (0 on its first day, 1 after its last)."""
    days = (ends_on - starts_on).days + 1
    behind = min(max((today - starts_on).days, 0), days)
    return CONTEXT.divide(Decimal(behind), Decimal(days))


def attainment(
    *,
    method: str,
    direction: str,
    scoring: Mapping[str, Any] | None,
    value: Decimal | None,
    target: Decimal | None,
    baseline: Decimal | None,
) -> Decimal | None:
    """How far the latest value has got towards the target, by the leaf's method (docs/scoring.md),
    clamped to [0, cap]; 0 without a value yet; None when the leaf cannot be judged (no target,
    no zero point, floor = target)."""
    params = scoring or {}
    cap = Decimal(str(params.get("cap", 1)))
    if target is None:
        return None
    if method == "target_ratio" and direction == "lower_better":
        zero = params.get("zero_point")
        if zero is None or Decimal(str(zero)) <= target:
            return None
        low, high, actual = Decimal(str(zero)), target, value
        if actual is None:
            return Decimal(0)
        share = CONTEXT.divide(low - actual, low - high)
    elif method == "target_ratio":
        if target <= 0:
            return None
        if value is None:
            return Decimal(0)
        share = CONTEXT.divide(value, target)
    elif method == "linear":
        floor = baseline if params.get("floor_from") == "baseline" else params.get("floor")
        if floor is None or Decimal(str(floor)) == target:
            return None
        if value is None:
            return Decimal(0)
        share = CONTEXT.divide(value - Decimal(str(floor)), target - Decimal(str(floor)))
    else:
        return None
    return min(max(share, Decimal(0)), cap)


def lags(attainment_share: Decimal | None, elapsed: Decimal, tolerance: Decimal) -> bool:
    """A leaf lags when the time elapsed is ahead of its progress by more than the tolerance."""
    return attainment_share is not None and elapsed - attainment_share > tolerance
