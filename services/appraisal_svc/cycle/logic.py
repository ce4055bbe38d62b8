"""Cycle rules: the label each kind carries and how cycles nest."""

from __future__ import annotations

import datetime as dt
import re

LABELS = {
    "monthly": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"),
    "quarterly": re.compile(r"^\d{4}-Q[1-4]$"),
    "annual": re.compile(r"^\d{4}$"),
    "term": re.compile(r"^\d{4}-\d{4}$"),
}
# A quarter sits in a year, a year in a term, a month in a quarter or a year.
PARENTS = {"monthly": {"quarterly", "annual"}, "quarterly": {"annual"}, "annual": {"term"}, "term": set()}


def problems(
    kind: str,
    label: str,
    starts_on: dt.date,
    ends_on: dt.date,
    parent: tuple[str, dt.date, dt.date] | None,
) -> list[dict[str, str]]:
    """Every broken rule at once (field, message)."""
    found = []
    if not LABELS[kind].fullmatch(label):
        found.append({"field": "label", "message": f"a {kind} cycle is labelled like {_example(kind)}"})
    if ends_on < starts_on:
        found.append({"field": "ends_on", "message": "ends before it starts"})
    if parent is not None:
        parent_kind, parent_start, parent_end = parent
        if parent_kind not in PARENTS[kind]:
            found.append({"field": "parent_id", "message": f"a {kind} cycle cannot sit in a {parent_kind} one"})
        elif not (parent_start <= starts_on and ends_on <= parent_end):
            found.append({"field": "parent_id", "message": "the cycle must lie within its parent's dates"})
    return found


def _example(kind: str) -> str:
    return {"monthly": "2026-07", "quarterly": "2026-Q3", "annual": "2026", "term": "2023-2027"}[kind]
