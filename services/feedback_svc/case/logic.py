"""Pure rules of improvement cases: when a published result opens a case, the recommendations
it carries (gap to target, peer best and median, trend), and the case's state machine."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from statistics import median

from contracts.appraisal_results import LeafResult, ObjectResult

SCORED_KINDS = frozenset({"quantitative", "qualitative", "satisfaction"})


@dataclass(frozen=True)
class CasePolicy:
    """What opens a case for a plan (configured by the performance office; defaults otherwise).

    ``grade_cutoff`` None means the plan's lowest grade."""

    min_attainment: Decimal = Decimal("0.6")
    min_satisfaction: Decimal = Decimal("70")
    grade_cutoff: str | None = None


@dataclass(frozen=True)
class Recommendation:
    kind: str  # "indicator", "veto" or "grade"
    text: str
    indicator_code: str | None = None
    indicator_name: str | None = None
    value: Decimal | None = None
    target: Decimal | None = None
    gap: Decimal | None = None
    attainment: Decimal | None = None
    peer_best: Decimal | None = None
    peer_median: Decimal | None = None
    peer_count: int = 0
    previous_value: Decimal | None = None
    trend: str | None = None  # improved, declined, unchanged, no_previous


@dataclass(frozen=True)
class Diagnosis:
    reasons: tuple[str, ...]
    recommendations: tuple[Recommendation, ...]

    @property
    def opens_case(self) -> bool:
        return bool(self.reasons)


def grade_at_or_below(grade: str, cutoff: str, scale: Sequence[str]) -> bool:
    """True when ``grade`` is ``cutoff`` or worse in ``scale`` (best first); unknown grades never match."""
    if grade not in scale or cutoff not in scale:
        return False
    return scale.index(grade) >= scale.index(cutoff)


def lower_is_better(leaf: LeafResult) -> bool:
    return leaf.direction == "lower_better"


def gap_to_target(leaf: LeafResult) -> Decimal | None:
    """How far the value is from its target in the direction that counts (positive = short of it)."""
    if leaf.value is None or leaf.target is None:
        return None
    return leaf.value - leaf.target if lower_is_better(leaf) else leaf.target - leaf.value


@dataclass(frozen=True)
class PeerStats:
    """One indicator's reported values across a peer group, summarized once per group."""

    count: int
    lowest: Decimal
    highest: Decimal
    median: Decimal

    def best(self, *, lower_better: bool) -> Decimal:
        return self.lowest if lower_better else self.highest


def peer_statistics(peers: Iterable[ObjectResult]) -> dict[str, PeerStats]:
    """Per indicator code, the peers' accepted values summarized (one pass over the group)."""
    values: dict[str, list[Decimal]] = {}
    for peer in peers:
        for leaf in peer.leaves:
            if leaf.value is not None and not leaf.missing:
                values.setdefault(leaf.indicator_code, []).append(leaf.value)
    stats = {}
    for code, found in values.items():
        found.sort()
        stats[code] = PeerStats(count=len(found), lowest=found[0], highest=found[-1], median=median(found))
    return stats


def trend_of(value: Decimal | None, previous: Decimal | None, *, lower_better: bool) -> str:
    if value is None or previous is None:
        return "no_previous"
    if value == previous:
        return "unchanged"
    better = value < previous if lower_better else value > previous
    return "improved" if better else "declined"


def fmt(number: Decimal | None) -> str:
    """A number as an official reads it: no exponent, no trailing zeros, at most 4 places."""
    if number is None:
        return "n/a"
    rounded = number.quantize(Decimal("0.0001")).normalize()
    text = f"{rounded:f}"
    return "0" if text in {"-0", ""} else text


TREND_WORDS = {
    "improved": "up from {prev} last cycle (improved)",
    "declined": "down from {prev} last cycle (declined)",
    "unchanged": "unchanged from {prev} last cycle",
    "no_previous": "no result from the previous cycle to compare",
}


def indicator_recommendation(
    leaf: LeafResult, peers: Mapping[str, PeerStats], previous: LeafResult | None
) -> Recommendation:
    lower_better = lower_is_better(leaf)
    stats = peers.get(leaf.indicator_code)
    best = stats.best(lower_better=lower_better) if stats is not None else None
    middle = stats.median if stats is not None else None
    peer_count = stats.count if stats is not None else 0
    gap = gap_to_target(leaf)
    previous_value = previous.value if previous is not None and not previous.missing else None
    trend = trend_of(leaf.value, previous_value, lower_better=lower_better)
    share = f"{fmt((leaf.attainment or Decimal(0)) * 100)}% of its marks" if leaf.attainment is not None else "no marks"
    if leaf.missing:
        first = f"{leaf.name} ({leaf.indicator_code}): no accepted value was submitted, so it earned {share}."
        action = "Submit the value with evidence on time next cycle."
    elif leaf.value is None:
        # Graded by raters (experts, peers): there is no figure, only the grades behind the share.
        first = f"{leaf.name} ({leaf.indicator_code}): graded by its raters, it earned {share}."
        action = "Go through the raters' findings with them and act on what they graded down."
    else:
        target = f" against a target of {fmt(leaf.target)}" if leaf.target is not None else ""
        gap_text = f", a gap of {fmt(gap)}" if gap is not None and gap > 0 else ""
        first = f"{leaf.name} ({leaf.indicator_code}): {fmt(leaf.value)}{target}{gap_text}; it earned {share}."
        if best is not None and middle is not None and peer_count > 1:
            reach = f"{fmt(middle)} (the peer median) is within reach of units like yours"
            action = f"Close the gap to the target; {reach}."
        else:
            action = "Close the gap to the target."
    peers_text = (
        f" Among {peer_count} peers the best is {fmt(best)} and the median {fmt(middle)}."
        if peer_count
        else " No peer reported this indicator."
    )
    trend_words = TREND_WORDS[trend].format(prev=fmt(previous_value))
    trend_text = " There is " + trend_words + "." if trend == "no_previous" else " It is " + trend_words + "."
    return Recommendation(
        kind="indicator",
        text=first + peers_text + trend_text + " " + action,
        indicator_code=leaf.indicator_code,
        indicator_name=leaf.name,
        value=leaf.value,
        target=leaf.target,
        gap=gap,
        attainment=leaf.attainment,
        peer_best=best,
        peer_median=middle,
        peer_count=peer_count,
        previous_value=previous_value,
        trend=trend,
    )


def is_weak(leaf: LeafResult, policy: CasePolicy) -> tuple[bool, bool]:
    """(below the attainment floor, below the satisfaction floor) for one leaf."""
    if leaf.kind not in SCORED_KINDS:
        return False, False
    low_attainment = leaf.attainment is not None and leaf.attainment < policy.min_attainment
    low_satisfaction = (
        leaf.kind == "satisfaction"
        and leaf.value is not None
        and not leaf.missing
        and leaf.value < policy.min_satisfaction
    )
    return low_attainment or (leaf.missing and leaf.max_marks > 0), low_satisfaction


def diagnose(
    obj: ObjectResult,
    *,
    peers: Mapping[str, PeerStats],
    previous: ObjectResult | None,
    policy: CasePolicy,
    grade_scale: Sequence[str],
) -> Diagnosis:
    """Why ``obj`` needs a case (empty when it does not) and what to recommend.

    ``peers`` summarizes the objects of the same peer group in the same result (``obj`` among them),
    computed once per group by ``peer_statistics``."""
    reasons: list[str] = []
    recommendations: list[Recommendation] = []
    previous_leaves = {leaf.indicator_code: leaf for leaf in previous.leaves} if previous is not None else {}
    for leaf in sorted(obj.leaves, key=lambda item: item.indicator_code):
        low_attainment, low_satisfaction = is_weak(leaf, policy)
        if low_attainment:
            reasons.append(f"low_attainment:{leaf.indicator_code}")
        if low_satisfaction:
            reasons.append(f"low_satisfaction:{leaf.indicator_code}")
        if low_attainment or low_satisfaction:
            recommendations.append(indicator_recommendation(leaf, peers, previous_leaves.get(leaf.indicator_code)))
    if obj.vetoed:
        reasons.append("veto")
        codes = ", ".join(obj.veto_codes) or "a listed event"
        recommendations.append(
            Recommendation(
                kind="veto",
                text=(
                    f"A veto ({codes}) capped the grade at {obj.grade} whatever the score. "
                    "Find the cause, fix it and show how a repeat is prevented."
                ),
            )
        )
    cutoff = policy.grade_cutoff or grade_scale[-1]
    if grade_at_or_below(obj.grade, cutoff, grade_scale):
        reasons.append("grade")
        previous_text = f" (last cycle {previous.grade})" if previous is not None else ""
        recommendations.append(
            Recommendation(
                kind="grade",
                text=(
                    f"Graded {obj.grade}{previous_text}, ranked {obj.rank} of {obj.peer_count} peers with "
                    f"{fmt(obj.composite)} points. Agree a rectification plan on the indicators above."
                ),
            )
        )
    return Diagnosis(reasons=tuple(reasons), recommendations=tuple(recommendations))


# --- states ------------------------------------------------------------------------------


class CaseStatus(StrEnum):
    open = "open"
    counseled = "counseled"
    plan_agreed = "plan_agreed"
    in_progress = "in_progress"
    verified = "verified"
    closed = "closed"
    escalated = "escalated"


class CaseAction(StrEnum):
    counsel = "counsel"  # a counseling session was recorded
    agree_plan = "agree_plan"  # the appraised unit acknowledged the session's agreed actions
    start = "start"  # work on the tasks began
    verify = "verify"  # every task was verified by an outsider
    close = "close"
    reopen = "reopen"
    escalate = "escalate"
    resolve_escalation = "resolve_escalation"


ACTIVE = (CaseStatus.open, CaseStatus.counseled, CaseStatus.plan_agreed, CaseStatus.in_progress)

TRANSITIONS: dict[tuple[CaseStatus, CaseAction], CaseStatus] = {
    (CaseStatus.open, CaseAction.counsel): CaseStatus.counseled,
    (CaseStatus.counseled, CaseAction.counsel): CaseStatus.counseled,
    (CaseStatus.plan_agreed, CaseAction.counsel): CaseStatus.plan_agreed,
    (CaseStatus.in_progress, CaseAction.counsel): CaseStatus.in_progress,
    (CaseStatus.escalated, CaseAction.counsel): CaseStatus.escalated,
    (CaseStatus.counseled, CaseAction.agree_plan): CaseStatus.plan_agreed,
    (CaseStatus.plan_agreed, CaseAction.start): CaseStatus.in_progress,
    (CaseStatus.in_progress, CaseAction.verify): CaseStatus.verified,
    (CaseStatus.escalated, CaseAction.verify): CaseStatus.verified,
    (CaseStatus.verified, CaseAction.close): CaseStatus.closed,
    (CaseStatus.closed, CaseAction.reopen): CaseStatus.in_progress,
    (CaseStatus.verified, CaseAction.reopen): CaseStatus.in_progress,
    **{(status, CaseAction.escalate): CaseStatus.escalated for status in ACTIVE},
    (CaseStatus.escalated, CaseAction.resolve_escalation): CaseStatus.in_progress,
}


class IllegalTransition(ValueError):
    def __init__(self, status: CaseStatus, action: CaseAction) -> None:
        super().__init__(f"A case that is {status.value} cannot {action.value.replace('_', ' ')}.")
        self.status, self.action = status, action


def status_after_escalation(escalated_from: str | None) -> CaseStatus:
    """Resolving an escalation returns the case to where it was; work already begun resumes."""
    if escalated_from in {s.value for s in ACTIVE}:
        return CaseStatus(escalated_from)
    return CaseStatus.in_progress


def next_status(status: CaseStatus, action: CaseAction) -> CaseStatus:
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise IllegalTransition(status, action) from None
