"""Review, objection and publication rules (pure): what each life-cycle step needs, when an
objection may be filed, how result rows read in public, and the cache validators of public answers."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Six places, as the published contract spells shares and scores.
SIX_PLACES = Decimal("0.000001")
# A cell starting with one of these runs as a formula in a spreadsheet that opens the download.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Kinds whose marks are not a share of a maximum: their attainment is not stated.
NO_ATTAINMENT_KINDS = frozenset({"deduction", "veto"})


@dataclass(frozen=True)
class RunState:
    """What the plan's scoring runs look like when a step is asked for."""

    latest_succeeded_version: int | None
    active_runs: int
    # The highest version an upheld ruling asked for (its rescore run), if any.
    required_version: int | None = None


@dataclass(frozen=True)
class Problem:
    message: str
    field: str


def transition_problem(
    *,
    current: str,
    to: str,
    now: dt.datetime,
    verification_deadline: dt.datetime,
    reason: str | None,
    runs: RunState,
    objection_closes_at: dt.datetime | None,
    open_objections: int,
) -> Problem | None:
    """Why the plan may not take the step ``current -> to`` now (None: it may). The state machine
    itself (``plan.logic.TRANSITIONS``) is checked before; these are the part-2 preconditions."""
    if current == "collecting" and to == "scoring":
        if now < verification_deadline and not reason:
            return Problem(
                "Verification is still open (until the verification deadline); state a reason to score early.",
                "reason",
            )
    elif current == "scoring" and to == "reviewed":
        if runs.active_runs:
            return Problem("A scoring run is still queued or running; review its result when it has finished.", "to")
        if runs.latest_succeeded_version is None:
            return Problem("No scoring run of this plan has succeeded yet; there is nothing to review.", "to")
    elif current == "reviewed" and to == "objection":
        if runs.latest_succeeded_version is None:
            return Problem("No scoring run of this plan has succeeded yet; there is nothing to object to.", "to")
    elif current == "objection" and to == "published":
        if objection_closes_at is not None and now < objection_closes_at:
            return Problem(f"The objection period runs until {objection_closes_at.isoformat()}.", "to")
        if open_objections:
            return Problem(f"{open_objections} objection(s) still wait for a ruling.", "objections")
        if runs.active_runs:
            return Problem("A scoring run is still queued or running; publish when it has finished.", "to")
        if runs.latest_succeeded_version is None:
            return Problem("No scoring run of this plan has succeeded; there is nothing to publish.", "to")
        if runs.required_version is not None and runs.latest_succeeded_version < runs.required_version:
            return Problem(
                f"The rescore of an upheld objection (version {runs.required_version}) did not succeed; "
                "run scoring again before publishing.",
                "to",
            )
    return None


def objection_closes_at(now: dt.datetime, period: dt.timedelta) -> dt.datetime:
    return now + period


def filing_problem(*, status: str, closes_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """Objections are filed only in the objection period, before it closes."""
    if status != "objection":
        return f"The plan is {status}; objections are filed only during its objection period."
    if closes_at is None or now >= closes_at:
        return "The objection period of this plan has closed."
    return None


def ruling_problem(*, plan_status: str, objection_status: str) -> str | None:
    if objection_status != "open":
        return f"This objection was already ruled ({objection_status}); a ruling is final."
    if plan_status != "objection":
        return f"The plan is {plan_status}; objections are ruled during its objection period."
    return None


def republish_problem(*, status: str, published_version: int | None, latest_version: int | None) -> str | None:
    if status != "published":
        return f"The plan is {status}; only a published plan is re-published."
    if latest_version is None or published_version is None or latest_version <= published_version:
        return f"No result version newer than the published one ({published_version}) has succeeded."
    return None


def six_places(value: Decimal) -> Decimal:
    return value.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)


def attainment(kind: str, earned: Decimal, marks: Decimal, missing: bool) -> Decimal | None:
    """earned / marks at six places; not stated for a missing leaf, a leaf without marks, or a
    deduction or veto (their marks are not a share of a maximum)."""
    if missing or kind in NO_ATTAINMENT_KINDS or marks <= 0:
        return None
    return six_places(max(earned, Decimal(0)) / marks)


def spreadsheet_safe(text: str) -> str:
    """Free text (object names) that would run as a formula is prefixed with an apostrophe."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def public_etag(run_id: object, *parts: object) -> str:
    """A strong validator: the published version (a run never changes) plus what selects the answer."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in (run_id, *parts)).encode()).hexdigest()[:32]
    return f'"{digest}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 13.1.2: weak comparison, any of a list, or ``*``."""
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)


def ruling_counts(statuses: Iterable[str]) -> dict[str, int]:
    counts = {"filed": 0, "open": 0, "upheld": 0, "dismissed": 0}
    for status in statuses:
        counts["filed"] += 1
        counts[status] = counts.get(status, 0) + 1
    return counts
