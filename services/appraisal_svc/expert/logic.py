"""Rules of expert ratings and veto events (pure): the conflict of interest, the rating window,
the seal, the grade scale of a leaf and the commitment logged while a rating is sealed."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from contracts.scoring import GRADE_SCALES
from shared.auth.principal import path_within

# Assignments are made and withdrawn before rating starts in earnest; ratings come in once the
# plan is open. Later states score, review or publish what was rated.
ASSIGNABLE_STATES = frozenset({"draft", "targets_open", "collecting"})
RATING_STATES = frozenset({"targets_open", "collecting"})
# Veto events may be recorded until publication: an upheld objection may still withdraw one.
VETO_STATES = frozenset({"draft", "targets_open", "collecting", "scoring", "reviewed", "objection"})


def conflicted(expert_org_path: str, object_org_path: str) -> bool:
    """An expert may not rate their own unit or any unit above it: the expert's path lies at or
    below the object's path."""
    return path_within(expert_org_path, object_org_path)


def window_closed(closes_at: dt.datetime | None, now: dt.datetime) -> bool:
    """The rating window is closed once its stated end has passed (no end stated: not closed)."""
    return closes_at is not None and now >= closes_at


def sealed(closes_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Ratings stay sealed (readable by their authors only) until the window has closed."""
    return not window_closed(closes_at, now)


def assignment_refusal(status: str, closes_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """Why assignments cannot change now, or None."""
    if status not in ASSIGNABLE_STATES:
        return f"the plan is {status}; assignments change only while it is draft, targets_open or collecting"
    if window_closed(closes_at, now):
        return "the rating window has closed"
    return None


def rating_refusal(status: str, closes_at: dt.datetime | None, now: dt.datetime) -> str | None:
    """Why a rating cannot be given or changed now, or None. Without a stated window end no one
    rates: the seal needs a moment at which it lifts."""
    if closes_at is None:
        return "the plan states no rating window (rating_closes_at)"
    if window_closed(closes_at, now):
        return f"the rating window closed at {closes_at.isoformat()}"
    if status not in RATING_STATES:
        return f"the plan is {status}; ratings are taken while it is targets_open or collecting"
    return None


def grade_scale(scoring: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The grades a `grade` leaf accepts (best first); empty for any other leaf."""
    if not scoring or scoring.get("method") != "grade":
        return ()
    return GRADE_SCALES.get(str(scoring.get("scale")), ())


def commitment(nonce: str, assignment_id: str, grade: str, comment: str | None) -> str:
    """sha256 over the salted rating: fixes the grade in the audit log without revealing it (a bare
    hash of one of four grades would be guessed at once)."""
    text = "\n".join((nonce, assignment_id, grade, comment or ""))
    return hashlib.sha256(text.encode()).hexdigest()


def veto_codes(leaf_scorings: list[Mapping[str, Any] | None]) -> set[str]:
    """Every veto code the plan's veto leaves list."""
    codes: set[str] = set()
    for scoring in leaf_scorings:
        if scoring and scoring.get("method") == "veto":
            codes.update(str(e) for e in scoring.get("events", []))
    return codes
