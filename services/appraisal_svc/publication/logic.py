"""Review, objection and publication rules (pure): what each life-cycle step needs, when an
objection may be filed, how result rows read in public, and the cache validators of public answers."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
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


# --- objects_hash lines without a model per leaf ----------------------------------------------------
# A big plan has a million leaf rows; validating a pydantic model per leaf took most of a
# publication. These write the same bytes as ``contracts.appraisal_results.object_line`` (a
# property test holds them equal) from plain values, and check the contract's bounds themselves.

MEASURE_LIMIT = Decimal(10) ** 12
SCORE_LIMIT = Decimal(10) ** 6
SHARE_LIMIT = Decimal(10)
OBJECT_KINDS = frozenset({"government", "department", "official", "project", "policy"})
LEAF_KINDS = frozenset({"quantitative", "qualitative", "satisfaction", "bonus", "deduction", "veto"})
DIRECTIONS = frozenset({"higher_better", "lower_better", "target_band"})


class OutOfContract(ValueError):
    """A stored value the published contract cannot carry (the publication fails, nothing is sent)."""


def json_text(text: str) -> str:
    """A JSON string exactly as pydantic writes it (no ASCII escaping of other characters)."""
    return json.dumps(text, ensure_ascii=False)


def _number(value: Decimal | None, low: Decimal, high: Decimal, what: str) -> str:
    # Stored numbers have at most six places (numeric(24, 6) columns), as the contract asks.
    if value is None:
        return "null"
    if not low <= value <= high:
        raise OutOfContract(f"{what} {value} is outside the published contract")
    return f'"{value}"'


@functools.lru_cache(maxsize=4096)
def _code(text: str, what: str) -> str:
    if not 1 <= len(text) <= 64:
        raise OutOfContract(f"{what} {text!r} is outside the published contract (1 to 64 characters)")
    return json_text(text)


@dataclass(frozen=True)
class LeafDefinition:
    """What every object's line repeats for one leaf indicator (its JSON written once)."""

    kind: str
    head: str  # '{"indicator_code":..,"name":..,"subject":'
    middle: str  # ',"kind":..,"direction":..,"value":'


def leaf_definition(code: str, name: str, kind: str, direction: str | None) -> LeafDefinition:
    if not 1 <= len(name) <= 300 or kind not in LEAF_KINDS or (direction is not None and direction not in DIRECTIONS):
        raise OutOfContract(f"leaf {code!r}: its name, kind or direction is outside the published contract")
    shown_direction = "null" if direction is None else json_text(direction)
    return LeafDefinition(
        kind=kind,
        head=f'{{"indicator_code":{_code(code, "indicator_code")},"name":{json_text(name)},"subject":',
        middle=f',"kind":{json_text(kind)},"direction":{shown_direction},"value":',
    )


def _quoted(text: str | None) -> str:
    return "null" if text is None else f'"{text}"'


def leaf_json(
    definition: LeafDefinition,
    *,
    subject: str | None,
    value: str | None,
    target: str | None,
    baseline: str | None,
    marks: str,
    earned: str,
    missing: bool,
) -> str:
    """One ``LeafResult`` in JSON from the numbers' text as ``str(Decimal)`` writes them at six
    places (PostgreSQL's text of a numeric(24, 6) is the same); the caller checked their bounds.
    ``marks`` is the leaf's maximum, ``earned`` what it earned."""
    share = attainment(definition.kind, Decimal(earned), Decimal(marks), missing)
    return "".join(
        (
            definition.head,
            "null" if not subject else _code(subject, "subject"),
            definition.middle,
            _quoted(value),
            ',"target":',
            _quoted(target),
            ',"baseline":',
            _quoted(baseline),
            ',"attainment":',
            _number(share, Decimal(0), SHARE_LIMIT, "attainment"),
            ',"marks":"',
            earned,
            '","max_marks":"',
            marks,
            '","missing":',
            "true" if missing else "false",
            "}",
        )
    )


def object_json(
    *,
    object_id: object,
    object_kind: str,
    name: str,
    org_unit_id: object,
    org_path: str,
    peer_group: str,
    composite: Decimal,
    subject_scores: list[tuple[str, Decimal, Decimal]],
    grade: str,
    rank: int,
    peer_count: int,
    vetoed: bool,
    veto_codes: list[str],
    bonus: Decimal,
    deduction: Decimal,
    leaves: list[str],
) -> str:
    """One ``ObjectResult`` line (JSON and a newline); ``subject_scores`` as (subject, score,
    weight) at six places, ``leaves`` as ``leaf_json`` wrote them."""
    if object_kind not in OBJECT_KINDS or not 1 <= len(name) <= 300 or not 1 <= len(org_path) <= 512:
        raise OutOfContract(f"object {object_id}: its kind, name or path is outside the published contract")
    if rank < 1 or peer_count < 1 or len(subject_scores) > 20 or len(veto_codes) > 50 or len(leaves) > 500:
        raise OutOfContract(f"object {object_id}: its rank or list sizes are outside the published contract")
    scores = ",".join(
        f'{{"subject":{_code(s, "subject")},"score":{_number(score, -SCORE_LIMIT, SCORE_LIMIT, "score")},'
        f'"weight":{_number(weight, Decimal(0), Decimal(1), "weight")}}}'
        for s, score, weight in subject_scores
    )
    codes = ",".join(_code(c, "veto_code") for c in veto_codes)
    return "".join(
        (
            f'{{"object_id":"{object_id}","object_kind":"{object_kind}","name":{json_text(name)},',
            f'"org_unit_id":"{org_unit_id}","org_path":{json_text(org_path)},',
            f'"peer_group":{_code(peer_group, "peer_group")},',
            f'"composite":{_number(composite, -SCORE_LIMIT, SCORE_LIMIT, "composite")},"subject_scores":[{scores}],',
            f'"grade":{_code(grade, "grade")},"rank":{rank},"peer_count":{peer_count},',
            f'"vetoed":{"true" if vetoed else "false"},"veto_codes":[{codes}],',
            f'"bonus":{_number(bonus, -SCORE_LIMIT, SCORE_LIMIT, "bonus")},',
            f'"deduction":{_number(deduction, -SCORE_LIMIT, SCORE_LIMIT, "deduction")},',
            f'"leaves":[{",".join(leaves)}]}}\n',
        )
    )
