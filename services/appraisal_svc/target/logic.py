"""Target rules: the scoring contract's check, and cascades that split a unit's target."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from contracts.scoring import ScoringRuleAdapter, target_problem

PLACES = Decimal("0.000001")
# Rates, shares and indices do not add up across sub-units: they are copied, never split.
NON_ADDITIVE_UNITS = frozenset({"%", "‰", "ratio", "rate", "index", "score", "points"})


def check(scoring: dict[str, Any] | None, direction: str, target: Decimal, baseline: Decimal | None) -> str | None:
    rule = ScoringRuleAdapter.validate_python(scoring) if scoring else None
    return target_problem(rule, target=target, baseline=baseline, direction=direction)


def is_additive(unit: str | None, method: str | None) -> bool:
    return method != "satisfaction" and (unit or "").strip().lower() not in NON_ADDITIVE_UNITS


def split(total: Decimal, shares: list[Decimal]) -> list[Decimal]:
    """``total`` split by ``shares`` (summing to 1), rounded half-up to 6 places, the rounding
    remainder going to the largest share so that the parts sum to ``total`` exactly."""
    parts = [(total * s).quantize(PLACES, rounding=ROUND_HALF_UP) for s in shares]
    if parts:
        largest = max(range(len(shares)), key=lambda i: (shares[i], -i))
        parts[largest] += total - sum(parts, Decimal(0))
    return parts


def equal_shares(n: int) -> list[Decimal]:
    return [Decimal(1) / Decimal(n)] * n if n else []
