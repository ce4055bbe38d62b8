"""Plan rules: the state machine and the checks on weights and grade schemes (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from itertools import pairwise

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("targets_open",),
    "targets_open": ("collecting",),
    "collecting": ("scoring",),
    "scoring": ("reviewed",),
    # Back to scoring when the review finds a problem; on to the objection period otherwise.
    "reviewed": ("objection", "scoring"),
    "objection": ("published",),
    "published": (),
}
# Where a scoring run may be requested: while scoring, and in the objection period when an upheld
# objection corrects data or a target.
SCORABLE = frozenset({"scoring", "objection"})
EDITABLE = frozenset({"draft"})
TARGETS_EDITABLE = frozenset({"draft", "targets_open"})
# Methods that compare a value with a per-object target cannot score without one.
TARGETED_METHODS = frozenset({"target_ratio", "linear"})


def allowed(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def weight_problems(weights: Mapping[str, Decimal]) -> list[str]:
    total = sum(weights.values(), Decimal(0))
    if not weights:
        return ["at least one evaluation subject needs a weight"]
    if total != 1:
        return [f"subject weights must sum to 1, they sum to {total}"]
    return []


def uncovered_subjects(weights: Mapping[str, Decimal], leaf_subjects: Iterable[Iterable[str]]) -> list[str]:
    """Subjects some leaf counts for that the plan gives no weight: their marks would vanish."""
    used = {s for subjects in leaf_subjects for s in subjects}
    return sorted(used - set(weights))


def grade_problems(thresholds: list[tuple[str, Decimal]]) -> list[str]:
    """Best grade first, strictly falling minimum scores, the last open to everyone (0)."""
    found = []
    names = [g for g, _ in thresholds]
    if len(set(names)) != len(names):
        found.append("grade names must be unique")
    for (upper, high), (lower, low) in pairwise(thresholds):
        if low >= high:
            found.append(f"grade {lower} must need less than grade {upper} ({low} >= {high})")
    if thresholds and thresholds[-1][1] != 0:
        found.append("the last grade must start at 0 so that every score gets a grade")
    return found


def scoring_setting_problems(
    veto_caps: Mapping[str, str], grade_names: Iterable[str], bonus_cap: Decimal | None, total_points: Decimal
) -> list[tuple[str, str]]:
    """(field, message) for plan settings the framework's rules cannot live with (docs/scoring.md):
    a veto leaf (code -> cap_grade) capping at a grade the plan's scheme lacks, and an overall
    bonus cap above the framework's total points."""
    names = list(grade_names)
    found = [
        ("grade_scheme", f"veto leaf {code} caps the grade at {cap!r}, which is not a grade of the scheme {names}")
        for code, cap in sorted(veto_caps.items())
        if cap not in names
    ]
    if bonus_cap is not None and bonus_cap > total_points:
        found.append(("bonus_cap", f"the bonus cap {bonus_cap} exceeds the framework's total points {total_points}"))
    return found
